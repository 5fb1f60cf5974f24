"""One beat for the hub's periodic chores, so that an idle hub wakes for them together.

An idle hub still has chores: the overload check, the heartbeat's tick, the
presence keeper, the fan-out's catch-up, the timers' and the webhooks'
polls. On schedules of their own each woke the event loop apart, and each of
their Redis commands came back in a read of its own. Waiting instead for a
beat of one grid (the multiples of ``BEAT_S`` on the loop's clock), the
chores due about the same time run in one turn of the loop, and their
commands leave in one write and come back together.

A chore keeps its average period: it wakes on the beat nearest the end of
its period, so a given wait is up to ``BEAT_S / 2`` shorter or longer.
Periods shorter than a beat are slept as they are. The overload check, which
must see a stall however the beats fall, ticks on every beat (``next_beat``).
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["BEAT_S", "beat_due", "next_beat", "on_beat", "sleep_to_beat", "until_beat"]

BEAT_S = 0.25
"""A power of two: every beat is an exact float, the same in every chore."""


def on_beat(when: float) -> float:
    """The beat nearest ``when`` (a time on the loop's clock)."""
    return round(when / BEAT_S) * BEAT_S


def beat_due(due: float, period_s: float) -> float:
    """When a chore on a grid of its own (``period_s`` apart) wakes for the time ``due``:
    on the nearest beat, or at ``due`` itself when the period is shorter than a beat.

    Rounded to beats, a grid finer than the beats would bunch: ticks 0.15 s apart
    fall on beats 0.25 and 0.5 s apart, and a chore of each second tick runs
    0.5 s apart now and then instead of 0.3 s."""
    if period_s < BEAT_S:
        return due
    return on_beat(due)


def next_beat(now: float) -> float:
    """The first beat after ``now``: for a chore that must come at least once a beat."""
    return (math.floor(now / BEAT_S) + 1) * BEAT_S


def until_beat(period_s: float, now: float) -> float:
    """Seconds from ``now`` to the beat nearest ``now + period_s`` (so at least half a
    beat); ``period_s`` itself when it is shorter than a beat."""
    if period_s < BEAT_S:
        return period_s
    return on_beat(now + period_s) - now


async def sleep_to_beat(period_s: float) -> None:
    """Sleep about ``period_s``, waking on the beat nearest its end."""
    await asyncio.sleep(until_beat(period_s, asyncio.get_running_loop().time()))
