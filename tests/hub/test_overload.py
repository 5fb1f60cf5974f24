"""An overloaded hub sheds new signals instead of falling behind (overload.py),
except while a reconnect storm's sessions wait their turn to open.

The overload monitor is tested in this process, its loop blocked on purpose; the
shedding against a real hub process frozen with SIGSTOP, whose loop then
runs its next tick late by the time it was frozen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from heartline_hub.overload import (
    HOLD_S,
    QUIET_TICK_S,
    RETRY_AFTER_MS,
    STORM_GRACE_S,
    TICK_S,
    WINDOW_S,
    Overload,
)
from heartline_protocol import CheckIn, ErrorCode
from tests.support.couples import pair_up
from tests.support.devices import Device, HubError
from tests.support.hubs import HubProcess

STALL_S = QUIET_TICK_S + 0.15
"""A stall every check sees past a 100 ms limit: a quiet hub ticks only on the beat, so
however the ticks fall, one comes at least 150 ms late (a 300 ms stall could end 50 ms
after a tick fell due, and go unseen)."""


async def block_the_loop(seconds: float = STALL_S) -> None:
    """Hold the event loop, as a burst of work would, then let a tick run."""
    time.sleep(seconds)
    await asyncio.sleep(2 * TICK_S)


async def test_a_loop_running_late_counts_as_overloaded_until_it_keeps_up() -> None:
    overload = Overload(limit_ms=100)
    overload.start()
    try:
        await asyncio.sleep(2 * TICK_S)
        assert (overload.overloaded, overload.shed()) == (False, None)

        await block_the_loop()
        retry_after_ms = overload.shed()
        assert overload.overloaded
        assert retry_after_ms is not None
        assert RETRY_AFTER_MS[0] <= retry_after_ms <= RETRY_AFTER_MS[1]

        await asyncio.sleep(HOLD_S + 2 * TICK_S)
        assert (overload.overloaded, overload.shed()) == (False, None)
    finally:
        overload.stop()


async def test_a_core_busy_all_the_time_counts_as_overloaded_though_the_loop_keeps_up() -> None:
    """Work in short slices, yielding between them: the ticks run on time."""
    overload = Overload(limit_ms=10_000, busy_limit=0.8)
    overload.start()
    try:
        until = time.perf_counter() + 1.5
        while time.perf_counter() < until:
            slice_end = time.perf_counter() + 0.005
            while time.perf_counter() < slice_end:
                pass
            await asyncio.sleep(0)
        assert overload.overloaded

        await asyncio.sleep(HOLD_S + WINDOW_S + 2 * TICK_S)
        assert not overload.overloaded
    finally:
        overload.stop()


async def test_with_the_limit_at_zero_nothing_is_shed() -> None:
    overload = Overload(limit_ms=0)
    overload.start()
    try:
        await block_the_loop()
        assert overload.shed() is None
    finally:
        overload.stop()


async def take_turns(
    overload: Overload, count: int
) -> tuple[list[int], asyncio.Event, list[asyncio.Task[None]]]:
    """``count`` sessions asking for their turn in order; each holds it until the event is set."""
    entered: list[int] = []
    go_on = asyncio.Event()

    async def session(number: int) -> None:
        async with overload.opening():
            entered.append(number)
            await go_on.wait()

    tasks = []
    for number in range(count):
        tasks.append(asyncio.create_task(session(number)))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    return entered, go_on, tasks


async def test_sessions_open_a_few_at_a_time_in_the_order_they_came() -> None:
    overload = Overload(limit_ms=100, opening_at_once=2)

    entered, go_on, tasks = await take_turns(overload, 5)

    assert (entered, overload.waiting_to_open) == ([0, 1], 3)
    go_on.set()
    await asyncio.gather(*tasks)
    assert (entered, overload.waiting_to_open) == ([0, 1, 2, 3, 4], 0)


async def test_a_session_slow_to_open_gives_up_its_turn_after_a_while() -> None:
    overload = Overload(limit_ms=100, opening_at_once=1, turn_s=0.1)

    entered, go_on, tasks = await take_turns(overload, 2)
    assert entered == [0]
    await asyncio.sleep(0.2)

    assert (entered, overload.waiting_to_open) == ([0, 1], 0)
    go_on.set()
    await asyncio.gather(*tasks)
    entered_again, go_on, tasks = await take_turns(overload, 2)
    assert entered_again == [0], "a turn given up early is not given back twice"
    go_on.set()
    await asyncio.gather(*tasks)


async def test_signals_are_not_shed_while_sessions_wait_their_turn_nor_just_after() -> None:
    overload = Overload(limit_ms=100, opening_at_once=1)
    overload.start()
    try:
        _, go_on, tasks = await take_turns(overload, 2)
        await block_the_loop()
        assert overload.overloaded
        assert overload.shed() is None, "a storm is waiting: the stayers' signals go on"

        go_on.set()
        await asyncio.gather(*tasks)
        await block_the_loop()
        assert overload.overloaded
        assert overload.shed() is None, "the busy core is still the storm's"

        await asyncio.sleep(STORM_GRACE_S)
        await block_the_loop()
        assert overload.shed() is not None, "past the storm, an overload sheds signals again"
    finally:
        overload.stop()


async def test_signals_are_not_shed_while_upgrades_wait_for_their_answer() -> None:
    overload = Overload(limit_ms=100)
    overload.start()
    try:
        overload.upgrades_backlog(200)
        await block_the_loop()
        assert overload.overloaded
        assert overload.shed() is None, "a storm's upgrades are waiting: the stayers' go on"
    finally:
        overload.stop()


async def test_a_hub_that_fell_behind_refuses_new_signals_for_a_moment_then_stores_them(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(overload_lag_ms="300")
    couple = await pair_up(http, hub.url)
    phone = await Device.connect(http, hub.ws_url, couple.a.token)
    stored = await phone.signal(CheckIn(note="before"))

    hub.pause()
    await asyncio.sleep(0.8)
    hub.resume()
    await asyncio.sleep(0.2)
    with pytest.raises(HubError) as refused:
        await phone.signal(CheckIn(note="while it catches up"), id="c-shed")

    assert refused.value.frame.code == ErrorCode.UNAVAILABLE
    assert refused.value.frame.retry_after_ms is not None
    assert RETRY_AFTER_MS[0] <= refused.value.frame.retry_after_ms <= RETRY_AFTER_MS[1]
    await asyncio.sleep(HOLD_S + 0.2)
    again = await phone.signal(CheckIn(note="while it catches up"), id="c-shed")
    assert again.seq == stored.seq + 1
    await phone.close()
