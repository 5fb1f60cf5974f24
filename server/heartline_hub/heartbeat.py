"""Liveness (SPEC.md 7.7): the hub pings quiet connections, many at once, and closes dead ones.

Every open session belongs to one of a few phases (about one a second of
the interval), and one timer ticks through them: at its tick, a phase's sessions
that the hub has neither heard from nor pinged for half an interval get a
``ping``, and the sessions it has heard nothing from for two intervals are
ended with 4001. The phase half an interval away is checked for silence at
the same tick, so a dead connection is closed within two and a half
intervals. Sessions join the phase with the fewest, so the pings of 10,000
idle devices leave evenly, about 385 a tick (26 phases at the default 25 s).

Why the hub pings rather than waiting for each device's ping: a phase's pings
leave together in one turn of the event loop, where each device's ping woke
the hub to read it and write a pong. The pongs still come back one by one,
but an idle hub's CPU halved (BENCHMARKS.md, tenth slice). A device needs
no timer of its own: a phone, a watch or a background tab whose timers
the system throttles stays connected by answering. A busy device (one that
sent anything in the last half interval) is not pinged; one that pings
every interval on its own is pinged about every other interval.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Protocol

from heartline_protocol import CloseCode, Ping, encode

from .beat import beat_due
from .clock import now_ms
from .metrics import HEARTBEAT_PINGS
from .tasks import cancel_and_wait

__all__ = ["NEVER", "PINGS_AT_ONCE", "Beating", "Heartbeat"]

LONGEST_TICK_S = 1.0
"""Longer ticks write more pings a wake-up; a second is small against
the 25 s default interval."""
PING_AFTER = 0.5
"""Intervals of quiet (nothing heard, no ping sent) before a session is pinged:
a device that answers is then pinged once an interval."""
PINGS_AT_ONCE = 512
"""Pings written in one turn of the event loop. A tick with more (50,000 idle
connections make about 1,900 a tick) lets the loop turn between parts, so that
a signal arriving meanwhile waits for one part at most (a few milliseconds).
With parts of 128, 10,000 idle connections measured 2.92, 2.40, 2.36% of the
core against 2.37, 2.33, 2.04% in one part (interleaved: within this
machine's noise, but never lower), so 10,000 connections stay one part."""
DEAD_AFTER = 2.0
"""Intervals of silence before a session is ended (SPEC.md 7.7)."""
NEVER = -math.inf
"""``pinged_at`` of a session not pinged yet: its first ping goes at its phase's next
tick, so that a device hears from the hub within an interval of its ``welcome``."""


class Beating(Protocol):
    """What the heartbeat needs of a session."""

    last_received: float
    """``time.monotonic()`` when a frame last came from the device."""
    pinged_at: float
    """When the heartbeat last pinged it, ``NEVER`` at first."""
    heartbeat_slot: int

    def ping(self, frame: bytes, now: float) -> None: ...

    def end(self, code: CloseCode, reason: str) -> None: ...


class Heartbeat:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        # Even, so that the phase checked for silence beside each is half an interval away.
        count = 2 * math.ceil(interval_s / 2 / LONGEST_TICK_S)
        self._phases: list[set[Beating]] = [set() for _ in range(count)]
        self.tick_s = interval_s / count
        self._task: asyncio.Task[None] | None = None

    def join(self, session: Beating) -> None:
        """Watch an open session; it is pinged first at its phase's next tick."""
        phase = min(range(len(self._phases)), key=lambda index: len(self._phases[index]))
        session.heartbeat_slot = phase
        self._phases[phase].add(session)

    def leave(self, session: Beating) -> None:
        if 0 <= session.heartbeat_slot < len(self._phases):
            self._phases[session.heartbeat_slot].discard(session)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _tick_forever(self) -> None:
        """Tick through the phases; a late tick does not shift the next ones."""
        loop = asyncio.get_running_loop()
        phase = 0
        for wake_at in self.wake_times(loop.time()):
            await asyncio.sleep(max(0.0, wake_at - loop.time()))
            now = time.monotonic()
            frame, parts = self._begin_tick(phase, now)
            for index, part in enumerate(parts):
                if index:
                    await asyncio.sleep(0)
                self._ping_quiet(part, now, frame)
            phase = (phase + 1) % len(self._phases)

    def wake_times(self, start: float) -> Iterator[float]:
        """When the ticks after ``start`` (on the loop's clock) run: a tick apart, each on
        the beat nearest, with the hub's other chores (beat.py), unless ticks come more
        often than beats (intervals under half a second)."""
        due = start
        while True:
            due += self.tick_s
            yield beat_due(due, self.tick_s)

    def tick(self, phase: int, now: float) -> int:
        """Ping the quiet sessions of ``phase``, end the silent ones of it and of the phase
        half an interval away; how many were pinged."""
        frame, parts = self._begin_tick(phase, now)
        return sum(self._ping_quiet(part, now, frame) for part in parts)

    def _begin_tick(self, phase: int, now: float) -> tuple[bytes, list[tuple[Beating, ...]]]:
        """End the silent sessions of the phase opposite ``phase``; the tick's ping, and
        the sessions of ``phase`` in parts of at most ``PINGS_AT_ONCE``."""
        opposite = (phase + len(self._phases) // 2) % len(self._phases)
        self._end_silent(self._phases[opposite], now)
        sessions = tuple(self._phases[phase])
        parts = [
            sessions[start : start + PINGS_AT_ONCE]
            for start in range(0, len(sessions), PINGS_AT_ONCE)
        ]
        return encode(Ping(t=now_ms())), parts

    def _end_silent(self, sessions: set[Beating], now: float) -> None:
        silent_since = now - DEAD_AFTER * self.interval_s
        for session in tuple(sessions):
            if session.last_received <= silent_since:
                session.end(CloseCode.HEARTBEAT_TIMEOUT, "no frame for two heartbeats")

    def _ping_quiet(self, sessions: tuple[Beating, ...], now: float, frame: bytes) -> int:
        """Ping the quiet ones of ``sessions`` and end the silent ones; how many were pinged."""
        silent_since = now - DEAD_AFTER * self.interval_s
        quiet_since = now - PING_AFTER * self.interval_s
        pinged = 0
        for session in sessions:
            heard = session.last_received
            if heard <= silent_since:
                session.end(CloseCode.HEARTBEAT_TIMEOUT, "no frame for two heartbeats")
            elif session.pinged_at == NEVER or max(heard, session.pinged_at) <= quiet_since:
                session.ping(frame, now)
                pinged += 1
        if pinged:
            HEARTBEAT_PINGS.inc(pinged)
        return pinged
