"""The hub, started with its pauses written to its log: GC passes and event-loop stalls.

A diagnostic for ``run.py --gc-log``; the hub's code is unchanged::

    python bench/loadgen/hub_gc.py --port 8080 --redis-url redis://...   (the hub's own flags)

Two kinds of line go to stderr, each with a clock reading of
:func:`time.perf_counter` (CLOCK_MONOTONIC on Linux, the load generator's
clock too), so they line up with slow deliveries:

* ``gc_pause <clock> <generation> <ms>``: a garbage-collector pass over 5 ms;
* ``loop_stall <clock> <ms>``: a probe the hub's event loop should run every
  5 ms ran more than 3 ms late (the loop was busy or stopped that long);
  the clock is when it was due.

A slow delivery with neither near it was not held up by the hub's loop.
"""

from __future__ import annotations

import asyncio
import gc
import runpy
import sys
import time
from typing import Any

MIN_MS = 5.0
PROBE_S = 0.005
STALL_MS = 3.0
_started = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms > MIN_MS:
        print(f"gc_pause {_started[0]:.4f} {info['generation']} {ms:.1f}", file=sys.stderr)


def _probe_stalls(loop: asyncio.AbstractEventLoop) -> None:
    """Run every ``PROBE_S`` on ``loop``; log each run more than ``STALL_MS`` late."""
    due = time.perf_counter() + PROBE_S

    def probe() -> None:
        nonlocal due
        now = time.perf_counter()
        late_ms = (now - due) * 1000
        if late_ms > STALL_MS:
            print(f"loop_stall {due:.4f} {late_ms:.1f}", file=sys.stderr)
        due = now + PROBE_S
        loop.call_later(PROBE_S, probe)

    loop.call_later(PROBE_S, probe)


def main() -> None:
    from heartline_hub import runtime  # noqa: PLC0415 - wrapped before the hub's cli imports it

    make_loop = runtime.new_event_loop

    def probed_loop(kind: str) -> asyncio.AbstractEventLoop:
        loop = make_loop(kind)
        _probe_stalls(loop)
        return loop

    runtime.new_event_loop = probed_loop
    gc.callbacks.append(_on_gc)
    sys.argv = ["heartline_hub", *sys.argv[1:]]
    runpy.run_module("heartline_hub", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
