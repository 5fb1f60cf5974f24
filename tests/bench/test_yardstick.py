"""The yardstick that says how fast a core runs plain Python now (bench/loadgen/yardstick.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.loadgen.yardstick import work, yardstick_ms

ROOT = Path(__file__).parents[2]


def test_the_work_is_a_fixed_computation() -> None:
    """Runs compare only if every run times the same work: its result is pinned here."""
    assert work(1_000) == 2001
    assert work(7) == 0 + 1 + 4 + 2 + 2 + 4 + 1


def test_each_timing_is_printed_when_asked_for() -> None:
    core = min(os.sched_getaffinity(0))
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen.yardstick", "--core", str(core), "--times", "3"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    times = json.loads(done.stdout)
    assert len(times) == 3
    assert all(ms > 0 for ms in times)


def test_the_yardstick_on_a_core_is_milliseconds_to_two_places() -> None:
    ms = yardstick_ms(min(os.sched_getaffinity(0)), repeats=3)

    assert ms > 0
    assert ms == round(ms, 2)
