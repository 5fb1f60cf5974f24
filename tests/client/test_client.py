"""The client library against a real hub: the vocabulary, the state, and errors."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

import heartline
from heartline_protocol import ErrorCode, Event, MemberStatus
from tests.support.couples import pair_up
from tests.support.hubs import HubProcess
from tests.support.servers import free_port


async def test_a_space_reaches_the_partner_whose_state_counts_down(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    async with (
        heartline.connect(shared_hub.ws_url, couple.a.token) as a,
        heartline.connect(shared_hub.ws_url, couple.b.token) as b,
    ):
        assert (a.member, a.partner, b.partner) == (couple.a.member, couple.b.member, a.member)
        feed = b.events()
        space = await a.need_space(minutes=30, note="a walk, love you")
        assert space.kind == "need_space"
        seen = await _next_of(feed, "need_space")
        assert (seen.seq, seen.body) == (space.seq, space.body)
        a_in_b = b.state.member(a.member)
        assert a_in_b is not None
        assert a_in_b.status is MemberStatus.SPACE
        left = b.seconds_left()
        assert left is not None
        assert 1790 < left <= 1800
        assert a.seconds_left(a.member) == pytest.approx(left, abs=2)


async def test_a_bid_heard_with_i_hear_you(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    async with (
        heartline.connect(shared_hub.ws_url, couple.a.token) as a,
        heartline.connect(shared_hub.ws_url, couple.b.token) as b,
    ):
        heard: list[Event] = []
        b.on("ack", heard.append)
        feed = a.events()
        bid = await b.feeling_disconnected(note="I miss you", wish="quality_time")
        await a.ack(await _next_of(feed, "feeling_disconnected"))
        async with asyncio.timeout(5):
            while not heard:
                await asyncio.sleep(0.01)
        assert heard[0].body.target == bid.seq  # type: ignore[union-attr]
        assert b.state.open_bids == ()
        with pytest.raises(heartline.HubError) as refused:
            await a.ack(bid)
        assert refused.value.error_code is ErrorCode.CONFLICT


async def test_a_revoked_device_ends_its_session_for_good(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    async with heartline.connect(shared_hub.ws_url, couple.a.token) as a:
        async with http.delete(
            f"{shared_hub.url}/v1/devices/{couple.a.device}",
            headers={"Authorization": f"Bearer {couple.a.token}"},
        ) as response:
            assert response.status == 204
        with pytest.raises(heartline.SessionEnded) as ended:
            await _keep_checking_in(a)
        assert ended.value.code == 4500


async def test_a_bad_token_is_refused_at_once(shared_hub: HubProcess) -> None:
    with pytest.raises(heartline.SessionEnded) as ended:
        async with heartline.connect(shared_hub.ws_url, "hlt_not-a-real-token"):
            pass
    assert ended.value.code == 4500


async def _connect_nowhere_within(seconds: float) -> None:
    async with asyncio.timeout(seconds):
        async with heartline.connect(f"ws://127.0.0.1:{free_port()}/v1/ws", "hlt_x"):
            pass


async def _keep_checking_in(client: heartline.Heartline) -> None:
    async with asyncio.timeout(5):
        while True:
            await client.check_in()
            await asyncio.sleep(0.05)


async def _next_of(feed: heartline.EventStream, kind: str) -> Event:
    async with asyncio.timeout(5):
        async for event in feed:
            if event.kind == kind:
                return event
    raise AssertionError(f"no {kind}")


async def test_giving_up_on_connecting_leaves_nothing_running() -> None:
    before = asyncio.all_tasks()
    with pytest.raises(TimeoutError):
        await _connect_nowhere_within(0.3)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()
