"""The process the hub runs in: its event loop and its garbage collector.

uvloop (libuv) runs the same asyncio code with a cheaper selector, transport
and timer machinery than the standard library's loop; the hub spends most of
its time there, so it is the default (``--event-loop asyncio`` for the
standard one, say to rule the loop out while debugging).

CPython's cycle collector stops the loop while it scans: with the default
thresholds a hub holding 2,000 connections paused 5 to 20 ms every second
or two and up to 170 ms for a full pass (BENCHMARKS.md), and every signal
in flight waited. Almost everything the hub allocates per signal is freed by
reference counting; what survives to a collection is mostly the work in
flight at that instant, then promoted, then counted towards the next full
pass. So :func:`tune_garbage_collector` collects the young generation far less
often (fewer promotions of work in flight, hence fewer full passes), and
freezes what start-up allocated (modules, the app, settings), which lives as
long as the process and need never be scanned again.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["YOUNG_THRESHOLD", "new_event_loop", "tune_garbage_collector"]

YOUNG_THRESHOLD = 50_000
"""Net new container objects before the young generation is collected (CPython: 700)."""
OLDER_THRESHOLD = 20
"""Collections of a generation before the next one is collected too (CPython: 10)."""


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of ``kind`` (``uvloop`` or ``asyncio``)."""
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 - optional at import time: not on every platform

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def tune_garbage_collector() -> None:
    """Call once start-up is done, before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
