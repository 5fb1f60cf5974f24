"""The load run's report: the pauses it lines up with slow deliveries, and stolen time."""

from __future__ import annotations

import os

from bench.loadgen.run import core_busy_ticks, pauses_figures


def test_pauses_are_counted_summed_and_placed_in_the_run() -> None:
    start = 100.0
    figures = pauses_figures([(105.25, 3.46), (107.5, 12.04)], start)

    assert figures == {
        "count": 2,
        "total_ms": 15.5,
        "max_ms": 12.0,
        "at": [[5.25, 3.5], [7.5, 12.0]],
    }


def test_no_pauses_give_zero_figures() -> None:
    assert pauses_figures([], 0.0) == {"count": 0, "total_ms": 0, "max_ms": 0.0, "at": []}


def test_a_cores_steal_is_part_of_its_busy_time_and_of_its_total() -> None:
    core = min(os.sched_getaffinity(0))
    busy, total, steal = core_busy_ticks(core)

    assert 0 <= steal <= busy <= total
    assert total > 0
