"""The load run's report: the pauses it lines up with slow deliveries, and stolen time."""

from __future__ import annotations

import os

from bench.loadgen.core_probe import ProbeReport
from bench.loadgen.generator import Phases, Recorder
from bench.loadgen.run import (
    Load,
    Window,
    core_busy_ticks,
    holdup_figures,
    pauses_figures,
    readable_holdups,
    undelivered,
)


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


def test_the_slow_deliveries_of_the_window_are_set_against_the_probes_reports() -> None:
    start = 100.0
    rec = Recorder(capacity=3)
    rec.sent[0], rec.delivered[0] = 105.000, 105.020  # slow, in the window
    rec.sent[1], rec.delivered[1] = 105.500, 105.501  # fast
    rec.sent[2], rec.delivered[2] = 103.000, 103.050  # slow, but in the warm-up
    reports = [
        ProbeReport(core=0, realtime=True, stalls=[(105.005, 3.0)], speeds=[(105.25, 1.0)]),
        ProbeReport(core=1, realtime=True, waits={"valkey": [(105.010, 5.0)]}),
    ]
    load = Load(rec, start, 1.0, 0, 2, 0, Window(1, 2), None, reports)

    figures = holdup_figures(load, Phases(5.0, 10.0, 10.0))

    assert figures == {
        "slow": 1,
        "overlapping": {"core0_stalled": 1, "core1_stalled": 0, "valkey_waited": 1, "none": 0},
        "realtime_probes": True,
        "core0_stalls": {"count": 1, "total_ms": 3.0, "max_ms": 3.0, "at": [[5.0, 3.0]]},
        "core1_stalls": {"count": 0, "total_ms": 0, "max_ms": 0.0, "at": []},
        "waited_during_slow": {"valkey": {"ms_per_slow": 5.0, "by_chance_ms": 0.01}},
        "core0_yardstick": {
            "samples": 1,
            "p10_ms": 1.0,
            "p50_ms": 1.0,
            "p90_ms": 1.0,
            "slow_share": 0.0,
            "slow_at": [],
        },
        "core1_yardstick": {"samples": 0},
    }
    text = "\n".join(readable_holdups(figures))
    assert "valkey 5.0 (0.01)" in text
    assert "core0 yardstick ms" in text
    assert "core1 yardstick" not in text, "no samples, no line"


def test_a_signal_a_later_one_of_its_device_overtook_is_lost_and_the_tail_is_undelivered() -> None:
    rec = Recorder(capacity=8)
    senders = 2
    for k in range(8):
        rec.sent[k] = 100.0 + k / 10
    for k in (0, 4, 1):  # device 0: 0 and 4 arrived, 2 did not, 6 after its last; device 1: 1
        rec.delivered[k] = rec.sent[k] + 0.001
    rec.failed[5] = "unavailable"  # refused, never stored: neither lost nor on its way

    lost, tail = undelivered(rec, range(8), senders)

    assert lost == [2]
    assert tail == [3, 6, 7]
