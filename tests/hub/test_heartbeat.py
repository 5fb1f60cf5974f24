"""Liveness (SPEC.md 7.7): the hub pings quiet devices, many at a time, and closes dead ones.

The schedule is checked on the ``Heartbeat`` itself, ticked with explicit
times; what a device sees is checked on a hub process of its own with a
300 ms heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

import aiohttp
import pytest

from heartline_hub.beat import on_beat
from heartline_hub.heartbeat import NEVER, PINGS_AT_ONCE, Heartbeat
from heartline_protocol import CloseCode, Ping, Pong, decode_from_hub
from tests.support.abuse import still_open
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess

INTERVAL_S = 25.0


class Quiet:
    """A session as the heartbeat sees it; ``answers`` whether its device sends a pong."""

    def __init__(self, opened_at: float, *, answers: bool = True) -> None:
        self.last_received = opened_at
        self.pinged_at = NEVER
        self.heartbeat_slot = -1
        self.answers = answers
        self.pings: list[float] = []
        self.ended: tuple[CloseCode, float] | None = None
        self._now = opened_at

    def ping(self, frame: bytes, now: float) -> None:
        assert decode_t(frame) is not None, "the hub's clock"
        self.pinged_at = now
        self.pings.append(now)
        if self.answers:
            self.last_received = now + 0.005

    def end(self, code: CloseCode, _reason: str) -> None:
        if self.ended is None:
            self.ended = (code, self._now)


def decode_t(frame: bytes) -> int | None:
    ping = decode_from_hub(frame)
    assert isinstance(ping, Ping)
    return ping.t


class Ticker:
    """Ticks a heartbeat as its task does, a tick apart from ``start``, with explicit times."""

    def __init__(self, heartbeat: Heartbeat, start: float) -> None:
        self.heartbeat = heartbeat
        self.start = start
        self.ticks = 0

    @property
    def now(self) -> float:
        return self.start + self.ticks * self.heartbeat.tick_s

    def run(self, sessions: list[Quiet], seconds: float) -> list[int]:
        """Tick for ``seconds``; how many were pinged at each tick."""
        per_tick = []
        until = self.now + seconds
        while self.now < until:
            for session in sessions:
                session._now = self.now
            phase = self.ticks % len(self.heartbeat._phases)
            per_tick.append(self.heartbeat.tick(phase, self.now))
            self.ticks += 1
        return per_tick


def test_a_device_that_answers_is_pinged_once_an_interval_the_first_time_within_one() -> None:
    heartbeat = Heartbeat(INTERVAL_S)
    sessions = [Quiet(opened_at=100.0 + n / 10) for n in range(100)]
    for session in sessions:
        heartbeat.join(session)

    Ticker(heartbeat, start=100.5).run(sessions, 10 * INTERVAL_S)

    for session in sessions:
        assert session.ended is None
        assert session.pings[0] <= 100.5 + INTERVAL_S
        gaps = {round(b - a, 6) for a, b in zip(session.pings, session.pings[1:], strict=False)}
        assert gaps == {INTERVAL_S}


def test_the_pings_of_many_devices_leave_evenly_a_tick_at_a_time() -> None:
    heartbeat = Heartbeat(INTERVAL_S)
    assert len(heartbeat._phases) == 26
    assert abs(heartbeat.tick_s - INTERVAL_S / 26) < 1e-9
    sessions = [Quiet(opened_at=0.0) for _ in range(10_000)]
    for session in sessions:
        heartbeat.join(session)

    per_tick = Ticker(heartbeat, start=1.0).run(sessions, 3 * INTERVAL_S)

    assert set(per_tick) == {384, 385}, "10,000 devices over 26 phases"
    assert sum(len(session.pings) for session in sessions) == 3 * 10_000


def test_a_big_tick_pings_a_part_at_a_time_so_the_loop_can_turn_between() -> None:
    """50,000 idle devices make about 1,900 pings a tick: written all at once, they
    would hold back a signal arriving meanwhile."""
    heartbeat = Heartbeat(INTERVAL_S)
    sessions = [Quiet(opened_at=0.0) for _ in range(26 * 1_200)]
    for session in sessions:
        heartbeat.join(session)

    _, parts = heartbeat._begin_tick(0, 1.0)

    assert [len(part) for part in parts] == [
        PINGS_AT_ONCE,
        PINGS_AT_ONCE,
        1_200 - 2 * PINGS_AT_ONCE,
    ]
    assert heartbeat.tick(0, 1.0) == 1_200


def test_a_device_heard_from_is_pinged_only_once_after_it_connects() -> None:
    """A device that pings on its own (or sends anything) every 10 s: the hub's first
    ping is the only one it gets."""
    heartbeat = Heartbeat(INTERVAL_S)
    talkative = Quiet(opened_at=0.0, answers=False)
    heartbeat.join(talkative)
    ticker = Ticker(heartbeat, start=0.0)
    while ticker.now < 8 * INTERVAL_S:
        talkative.last_received = ticker.now
        ticker.run([talkative], 10.0)

    assert len(talkative.pings) == 1
    assert talkative.pings[0] <= INTERVAL_S
    assert talkative.ended is None


def test_a_device_that_never_answers_is_ended_within_two_and_a_half_intervals() -> None:
    for opened_at in (0.0, 3.3, 12.7, 24.9):
        heartbeat = Heartbeat(INTERVAL_S)
        mute = Quiet(opened_at=opened_at, answers=False)
        heartbeat.join(mute)

        Ticker(heartbeat, start=opened_at).run([mute], 4 * INTERVAL_S)

        assert mute.ended is not None
        code, at = mute.ended
        assert code is CloseCode.HEARTBEAT_TIMEOUT
        assert 2 * INTERVAL_S <= at - opened_at <= 2.5 * INTERVAL_S + 1e-6
        assert len(mute.pings) >= 2, "pinged before being given up"


def test_a_session_that_left_is_neither_pinged_nor_ended() -> None:
    heartbeat = Heartbeat(INTERVAL_S)
    gone = Quiet(opened_at=0.0, answers=False)
    heartbeat.join(gone)
    heartbeat.leave(gone)

    Ticker(heartbeat, start=0.0).run([gone], 3 * INTERVAL_S)

    assert (gone.pings, gone.ended) == ([], None)


def test_a_short_interval_still_checks_twice_an_interval() -> None:
    heartbeat = Heartbeat(0.3)
    assert len(heartbeat._phases) == 2
    assert abs(heartbeat.tick_s - 0.15) < 1e-9


def test_the_ticks_wake_with_the_hubs_other_chores_on_the_beat() -> None:
    ticks = itertools.islice(Heartbeat(INTERVAL_S).wake_times(start=1000.1), 52)

    wake_times = list(ticks)
    assert all(wake_at == on_beat(wake_at) for wake_at in wake_times)
    assert wake_times[-1] == on_beat(1000.1 + 2 * INTERVAL_S)


def test_ticks_closer_than_beats_keep_their_spacing_so_each_phase_comes_an_interval_apart() -> None:
    ticks = itertools.islice(Heartbeat(0.3).wake_times(start=1000.0), 12)

    of_one_phase = list(ticks)[::2]
    gaps = [later - earlier for earlier, later in itertools.pairwise(of_one_phase)]
    assert gaps == pytest.approx([0.3] * 5)


# What a device sees, from a hub process.


async def test_a_device_that_only_answers_the_hubs_pings_stays_connected(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(heartbeat_ms="300")
    couple = await pair_up(http, hub.url)
    answering = await Device.connect(http, hub.ws_url, couple.a.token)
    mute = await Device.connect(http, hub.ws_url, couple.b.token)
    connected = time.monotonic()
    pings: list[float] = []

    async def answer_pings() -> None:
        while True:
            ping = await answering.receive(lambda frame: isinstance(frame, Ping), timeout=1.0)
            assert isinstance(ping, Ping)
            assert ping.t is not None
            pings.append(time.monotonic())
            await answering.send(Pong(t=ping.t))

    answerer = asyncio.create_task(answer_pings())
    try:
        code = await mute.closed(timeout=3)
        assert code == CloseCode.HEARTBEAT_TIMEOUT
        assert 0.6 <= time.monotonic() - connected <= 1.2
        await asyncio.sleep(1.5 - (time.monotonic() - connected))
        assert not answerer.done(), "the hub stopped pinging"
    finally:
        answerer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answerer
    await still_open(answering)
    assert 3 <= len(pings) <= 7, f"{len(pings)} pings in 1.5 s at a 0.3 s interval"


async def test_a_device_that_pings_on_its_own_is_pinged_at_most_once(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(heartbeat_ms="300")
    couple = await pair_up(http, hub.url)
    device = await Device.connect(http, hub.ws_url, couple.a.token)
    for marker in range(30):
        if marker:
            await asyncio.sleep(0.05)
        await device.send(Ping(t=marker))

    frames = await device.drain(quiet=0.05)
    pongs = [frame.t for frame in frames if isinstance(frame, Pong)]
    assert pongs == list(range(30))
    last_pong = max(index for index, frame in enumerate(frames) if isinstance(frame, Pong))
    while_pinging = [frame for frame in frames[:last_pong] if isinstance(frame, Ping)]
    assert len(while_pinging) <= 1, "the first only (once it stops, the hub pings it again)"
