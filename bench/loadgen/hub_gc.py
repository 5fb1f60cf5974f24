"""The hub, started with every garbage-collector pass over 5 ms written to its log.

A diagnostic for ``run.py --gc-log``; the hub's code is unchanged::

    python bench/loadgen/hub_gc.py --port 8080 --redis-url redis://...   (the hub's own flags)

Each pass is one line ``gc_pause <clock> <generation> <ms>`` on stderr, the
clock being :func:`time.perf_counter` (CLOCK_MONOTONIC on Linux, the same
clock as the load generator's), so pauses line up with slow deliveries.
"""

from __future__ import annotations

import gc
import runpy
import sys
import time
from typing import Any

MIN_MS = 5.0
_started = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms > MIN_MS:
        print(f"gc_pause {_started[0]:.4f} {info['generation']} {ms:.1f}", file=sys.stderr)


def main() -> None:
    gc.callbacks.append(_on_gc)
    sys.argv = ["heartline_hub", *sys.argv[1:]]
    runpy.run_module("heartline_hub", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
