"""Noticing that the hub is past what its core can do, so that it sheds signals.

A saturated hub does not fail: it falls behind. Frames wait in the sockets
and in the event loop's queue, and every answer comes later (measured at
7,500 signals/s on one core: 20 to 40 s, BENCHMARKS.md). Refusing a signal
costs the hub far less than storing it (no Redis round trip, no fold), so
past its capacity it answers new signals ``unavailable`` with a
``retry_after_ms`` (clients resend them with the same id, SPEC.md 7.5) and
serves everything else: receipts, pings, the events it already stored.

Two measures, read every ``TICK_S`` (every ``QUIET_TICK_S`` while the hub
uses less than ``QUIET_BELOW`` of its core: 20 ticks a second were more
than half of an idle hub's wake-ups); either makes the hub count as overloaded until
``HOLD_S`` passes without either:

* the event loop's lag: how late the tick runs. A loop with spare time runs
  it within a millisecond or so; one stalled (a long pause, a frozen
  process) runs it late by the stall;
* the share of the last ``WINDOW_S`` the process spent on the CPU. A hub
  past its capacity keeps its loop turning (each turn handles what is
  readable), so the lag stays small while the backlog grows in the sockets;
  what shows it is a core busy all the time. A hub under a CPU quota
  (a container limited to part of a core) never reaches ``BUSY_LIMIT``:
  there only the lag tells.

A reconnect storm (this hub restarted, a network blip across a city)
brings thousands of handshakes at once, each costing the hub several times a
signal, and as many presence changes from the connections it cut. Sessions
open (and announce going offline) ``OPENING_AT_ONCE`` at a time, the rest
waiting their turn in order (their devices wait for the ``welcome``, and
resume when it comes); a turn lasts at most ``TURN_S``, so that a device
that stops reading during its welcome cannot hold one.

While any wait (or their upgrades do), and for ``STORM_GRACE_S`` after the last (the busy window
and the hold still remember the storm), the hub's busy core is the storm's
doing, not the signals': the signals of the devices that stayed are not
shed then, so that they keep being stored while the others come back.
Turning the new sessions away instead was measured and made things worse:
each device came back and paid its upgrade again (BENCHMARKS.md, eighth
slice).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import AsyncIterator

from .beat import BEAT_S, next_beat
from .metrics import LOOP_LAG, SHED, WAITING_TO_OPEN

__all__ = [
    "BUSY_LIMIT",
    "HOLD_S",
    "OPENING_AT_ONCE",
    "QUIET_TICK_S",
    "RETRY_AFTER_MS",
    "STORM_GRACE_S",
    "TICK_S",
    "TURN_S",
    "WINDOW_S",
    "Overload",
]

TICK_S = 0.05
QUIET_TICK_S = BEAT_S
QUIET_BELOW = 0.25
"""Share of the core under which the hub ticks on every beat of beat.py, with the other
chores (``QUIET_TICK_S`` apart): a stall longer than ``QUIET_TICK_S`` plus the lag limit
still shows in the next tick's lag, and the busy share needs a whole window anyway."""
HOLD_S = 1.0
WINDOW_S = 1.0
BUSY_LIMIT = 0.97
RETRY_AFTER_MS = (500, 1500)
"""Refused signals are told to come back after a moment drawn from this range."""
OPENING_AT_ONCE = 64
"""Sessions opening at once (authenticate, join the room, welcome, resume, presence)."""
TURN_S = 5.0
"""A session that takes longer than this to open goes on without holding its turn."""
STORM_GRACE_S = WINDOW_S + HOLD_S
"""After the last waiting session, how long the busy core still counts as the storm's."""


class Overload:
    """Whether the hub is past its capacity now, from its loop's lag and its busy core."""

    def __init__(
        self,
        limit_ms: int,
        busy_limit: float = BUSY_LIMIT,
        *,
        opening_at_once: int = OPENING_AT_ONCE,
        turn_s: float = TURN_S,
    ) -> None:
        """``limit_ms`` 0 turns shedding off (the lag is still measured)."""
        self._limit_s = limit_ms / 1000
        self._busy_limit = busy_limit
        self._due = 0.0
        self._overloaded_until = 0.0
        self.overloaded = False
        """Whether the hub counts as past its capacity; kept current by every tick, so
        that the check each signal makes is one attribute read."""
        self._storm_until = 0.0
        self._sheds_signals = False
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """Kept: ``asyncio.get_running_loop()`` costs a ``getpid`` system call (writer.py)."""
        self._cpu: collections.deque[tuple[float, float]] = collections.deque()
        self._opening = asyncio.Semaphore(opening_at_once)
        self._turn_s = turn_s
        self.waiting_to_open = 0
        """Sessions waiting for their turn to open: a storm is under way while any wait."""
        self.upgrades_waiting = 0
        """Connections whose WebSocket upgrade waits beyond the next turn's answers
        (listener.py): the first sign of a storm, before their hellos arrive."""

    def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._due = loop.time() + TICK_S
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def shed(self) -> int | None:
        """None to go on, or the ``retry_after_ms`` to refuse a signal with."""
        if not self._sheds_signals or self.waiting_to_open or self.upgrades_waiting:
            return None
        SHED.inc()
        return random.randint(*RETRY_AFTER_MS)

    def upgrades_backlog(self, count: int) -> None:
        self.upgrades_waiting = count

    @contextlib.asynccontextmanager
    async def opening(self) -> AsyncIterator[None]:
        """A session's turn to open (or to go): a few at once, the rest in order."""
        if self._opening.locked():
            self.waiting_to_open += 1
            WAITING_TO_OPEN.inc()
            try:
                await self._opening.acquire()
            finally:
                self.waiting_to_open -= 1
                WAITING_TO_OPEN.dec()
        else:
            await self._opening.acquire()
        turn = _Turn(self._opening)
        timer = asyncio.get_running_loop().call_later(self._turn_s, turn.end)
        try:
            yield
        finally:
            timer.cancel()
            turn.end()

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        lag = max(0.0, now - self._due)
        LOOP_LAG.set(lag)
        busy = self._busy_share(now)
        if self._limit_s and (lag > self._limit_s or busy >= self._busy_limit):
            self._overloaded_until = now + HOLD_S
        self.overloaded = now < self._overloaded_until
        if self.waiting_to_open or self.upgrades_waiting:
            self._storm_until = now + STORM_GRACE_S
        self._sheds_signals = self.overloaded and now >= self._storm_until
        quiet = busy < QUIET_BELOW and not self.overloaded and now >= self._storm_until
        self._due = next_beat(now) if quiet else now + TICK_S
        self._handle = loop.call_at(self._due, self._tick)

    def _busy_share(self, now: float) -> float:
        """CPU time over wall time across the last ``WINDOW_S`` (0 until a window is full)."""
        cpu = time.process_time()
        samples = self._cpu
        samples.append((now, cpu))
        while len(samples) > 1 and now - samples[1][0] >= WINDOW_S:
            samples.popleft()
        first_wall, first_cpu = samples[0]
        span = now - first_wall
        return (cpu - first_cpu) / span if span >= WINDOW_S else 0.0


class _Turn:
    """One holder's slot of the opening semaphore, given back exactly once."""

    __slots__ = ("_ended", "_semaphore")

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._ended = False

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._semaphore.release()
