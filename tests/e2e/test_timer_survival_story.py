"""A promise outlives the hub that heard it.

A needs space; the hub that stored it dies before the space ends, or dies
right after claiming the timer. Another hub fires the check-in due anyway,
exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from heartline_hub.store import Store
from heartline_hub.timers import shard_for
from heartline_protocol import Event, MemberStatus, NeedSpace, Sync
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess

SHARDS = 16
"""The hubs' default number of timer shards."""


async def test_a_space_ends_on_time_after_its_hub_restarted(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    first = start_hub()
    couple = await pair_up(http, first.url)
    a_phone = await Device.connect(http, first.ws_url, couple.a.token)
    space = await a_phone.signal(NeedSpace(duration=2))
    first.kill()
    await a_phone.ws.close()

    await asyncio.sleep(2.5)
    second = start_hub()
    b_phone = await Device.connect(http, second.ws_url, couple.b.token)
    a_state = b_phone.welcome.state.member(couple.a.member)
    if a_state is not None and a_state.status is MemberStatus.SPACE:
        await _space_ended(b_phone, space)
    await _exactly_one_space_ended(b_phone, space)
    await b_phone.close()


async def test_a_timer_claimed_by_a_hub_that_died_fires_once_its_lease_runs_out(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess], engine_url: str
) -> None:
    hub = start_hub(timer_lease_ms="1500")
    couple = await pair_up(http, hub.url)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    space = await a_phone.signal(NeedSpace(duration=3))
    assert isinstance(space.body, NeedSpace)
    until = space.body.until
    assert until is not None

    claimed = await _claim_like_a_hub_about_to_die(engine_url, couple.a.pair, until)
    assert any(timer.endswith("|ended") for timer in claimed)

    ended = await _space_ended(b_phone, space, timeout=8)
    assert ended.at >= until + 1000, "it waited for the dead hub's lease"
    assert ended.at - until < 1500 + 1000
    await _exactly_one_space_ended(b_phone, space)
    for device in (a_phone, b_phone):
        await device.close()


async def _claim_like_a_hub_about_to_die(redis_url: str, pair: str, until: int) -> list[str]:
    """Claim the space's timers, as a hub would at their due time, and never fire them."""
    store = Store.from_url(redis_url, idempotency_ttl_ms=1, retention_ms=1)
    try:
        shard = shard_for(pair, SHARDS)
        return await store.claim_timers(shard, now=until + 1, lease_end=until + 1500, limit=1000)
    finally:
        await store.close()


async def _space_ended(device: Device, space: Event, timeout: float = 6) -> Event:
    frame = await device.receive(
        lambda f: isinstance(f, Event) and f.kind == "space_ended" and f.member == space.member,
        timeout,
    )
    assert isinstance(frame, Event)
    return frame


async def _exactly_one_space_ended(device: Device, space: Event) -> None:
    """The whole log, read back with sync, holds one space_ended for the space."""
    await device.send(Sync(id="whole-log", after=0, limit=1000))
    await device.receive(lambda f: getattr(f, "id", None) == "whole-log", timeout=5)
    ended = {
        event.seq
        for event in device.events
        if event.kind == "space_ended" and getattr(event.body, "target", None) == space.seq
    }
    assert len(ended) == 1
