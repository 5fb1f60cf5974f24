"""How fast a core runs plain Python right now: a yardstick for comparing runs.

The benchmark machines are virtual. Within one hour of the twelfth slice,
the same hub needed 66% of its core for 5,000 signals/s in one run and 84%
in another, with the hypervisor reporting no stolen time: the core itself
ran slower (another tenant on its physical core, a lower clock). A run on
a slow core is a run on a smaller machine, and its figures say so.

:func:`work` is a fixed piece of pure Python. Timed on an idle core
(``python -m bench.loadgen.yardstick [--core 0]``, the median of a few
repetitions) it says how fast the machine is before a benchmark; the core
probes of ``run.py --sched-log`` time it on their cores four times a second
during a run (core_probe.py), so a slow stretch shows where it falls. On
the twelfth slice's machine the core ran it in about 10.5 ms or about 16 ms,
switching between the two every few seconds (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["REPEATS", "STEPS", "timed_ms", "work", "yardstick_ms"]

REPEATS = 7
STEPS = 200_000
"""The work's size: about 10 ms on a fast phase of the benchmark machine's core."""


def work(steps: int = STEPS) -> int:
    """The fixed piece of pure Python: integer arithmetic in a loop, nothing allocated."""
    total = 0
    for i in range(steps):
        total += i * i % 7
    return total


def timed_ms(steps: int = STEPS) -> float:
    """Milliseconds :func:`work` takes, here and now."""
    started = time.perf_counter()
    work(steps)
    return (time.perf_counter() - started) * 1000


def yardstick_ms(core: int, repeats: int = REPEATS) -> float:
    """Median milliseconds of :func:`work` on ``core``, in a process of its own pinned there."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen.yardstick",
            "--core",
            str(core),
            "--times",
            str(repeats),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    times: list[float] = json.loads(done.stdout)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument(
        "--times", type=int, default=0, help="print each of this many timings (JSON), no median"
    )
    args = parser.parse_args()
    if not args.times:
        print(yardstick_ms(args.core))
        return
    os.sched_setaffinity(0, {args.core})
    work()
    print(json.dumps([timed_ms() for _ in range(args.times)]))


if __name__ == "__main__":
    main()
