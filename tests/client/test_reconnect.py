"""The client survives real networks: hubs that die, hang, or restart (SPEC.md 7.9)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
import pytest

import heartline
from heartline_protocol import CheckIn, Event
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess, metrics_of

QUICK = heartline.Options(backoff=heartline.Backoff(base=0.05, cap=0.5), call_timeout=20)


async def test_after_its_hub_died_the_client_resumes_and_sends_what_waited(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess], shared_hub: HubProcess
) -> None:
    own = start_hub()
    couple = await pair_up(http, shared_hub.url)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    async with heartline.connect(own.ws_url, couple.a.token, QUICK) as a:
        feed = a.events()
        own.kill()
        await _until(lambda: not a.connected, 5)

        missed = [await b_phone.signal(CheckIn(note=f"are you there {n}")) for n in range(3)]
        waiting = asyncio.create_task(a.check_in(note="sent while offline"))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the call waits in the outbox"

        start_hub(port=own.port)
        sent = await asyncio.wait_for(waiting, 15)
        received = [await _next_check_in(feed, couple.b.member) for _ in missed]
        assert [(e.seq, e.body) for e in received] == [(e.seq, e.body) for e in missed]

        from_a = await b_phone.receive(
            lambda f: isinstance(f, Event) and f.kind == "check_in" and f.member == a.member
        )
        assert isinstance(from_a, Event)
        assert from_a.seq == sent.seq
        await asyncio.sleep(0.3)
        twice = [e for e in b_phone.events if e.kind == "check_in" and e.member == a.member]
        assert len(twice) == 1, "stored once, although it may have been sent twice"
        assert a.shared.delivered_seq >= sent.seq
    await b_phone.close()


async def test_a_hung_hub_is_noticed_within_two_heartbeats(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(heartbeat_ms="400")
    couple = await pair_up(http, hub.url)
    async with heartline.connect(hub.ws_url, couple.a.token, QUICK) as a:
        await asyncio.sleep(0.5)
        hub.pause()
        frozen = time.monotonic()
        try:
            await _until(lambda: not a.connected, 3)
            noticed = time.monotonic() - frozen
        finally:
            hub.resume()
        assert noticed < 2 * 0.4 + 0.5
        await _until(lambda: a.connected, 15)
        assert (await a.check_in()).kind == "check_in"


async def test_a_hub_quiet_for_over_a_heartbeat_is_pinged_and_kept_when_it_answers(
    http: aiohttp.ClientSession,
    start_hub: Callable[..., HubProcess],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SPEC.md 7.7: after 1.25 quiet intervals the client pings once on its own; a hub
    that answers before two intervals have passed keeps its connection."""
    hub = start_hub(heartbeat_ms="1000")
    couple = await pair_up(http, hub.url)
    async with heartline.connect(hub.ws_url, couple.a.token, QUICK) as a:
        version = (await a.check_in()).seq
        caplog.set_level(logging.DEBUG, logger="heartline")
        hub.pause()
        try:
            await asyncio.sleep(1.6)
        finally:
            hub.resume()
        pinged = [r.getMessage() for r in caplog.records if "pinging the hub" in r.getMessage()]
        assert len(pinged) == 1, caplog.text
        await asyncio.sleep(0.8)
        assert a.connected
        assert (await a.check_in()).seq == version + 1, "no reconnect: no presence events"


async def test_an_idle_client_stays_connected_by_answering_the_hubs_pings(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """No timer of its own keeps it: after its first ping (for the clock) the hub's
    pings, answered, are what the hub hears (SPEC.md 7.7). Had the connection
    dropped, the pair's log would hold A going offline and back.

    Half a second: the client pings on its own after 1.25 intervals of silence, so a
    hub's ping more than a quarter interval late (125 ms here) lets the client's take
    its place, and the hub then skips its next one."""
    hub = start_hub(heartbeat_ms="500")
    couple = await pair_up(http, hub.url)
    async with heartline.connect(hub.ws_url, couple.a.token, QUICK) as a:
        await asyncio.sleep(0.2)
        version = a.state.version
        pinged_before = (await metrics_of(http, hub))["heartline_heartbeat_pings_total"]
        await asyncio.sleep(2.0)
        pinged = (await metrics_of(http, hub))["heartline_heartbeat_pings_total"] - pinged_before
        assert a.connected
        assert (await a.check_in()).seq == version + 1, "nothing happened meanwhile"
    assert pinged >= 2.0 / 0.5 - 1, "pinged once an interval"


async def _next_check_in(feed: heartline.EventStream, member: str) -> Event:
    async with asyncio.timeout(15):
        async for event in feed:
            if event.kind == "check_in" and event.member == member:
                return event
    raise AssertionError("no check_in")


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
