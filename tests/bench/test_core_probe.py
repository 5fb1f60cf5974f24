"""The core probes of ``run.py --sched-log``: what they report, and how it meets slow deliveries."""

from __future__ import annotations

import os
import time

from bench.loadgen.core_probe import (
    CoreProbe,
    ProbeReport,
    holdups,
    run_delay_ns,
    speed_figures,
    waits_during,
)


def report(
    core: int, stalls: list[tuple[float, float]], **waits: list[tuple[float, float]]
) -> ProbeReport:
    return ProbeReport(core=core, realtime=True, stalls=stalls, waits=dict(waits))


def test_a_slow_delivery_counts_under_each_hold_up_it_overlaps() -> None:
    reports = [
        report(0, [(10.000, 3.0)]),
        report(1, [], valkey=[(10.010, 4.0), (20.010, 1.0)], generator=[(30.010, 2.5)]),
    ]
    slow = [
        (
            9.995,
            10.012,
        ),  # core 0 stalled from 10.000 to 10.003; valkey waited 4 ms in 10.000-10.010
        (20.000, 20.015),  # valkey waited only 1 ms then: below the threshold
        (30.005, 30.020),  # the generator waited 2.5 ms in 30.000-30.010
    ]

    assert holdups(slow, reports) == {
        "core0_stalled": 1,
        "core1_stalled": 0,
        "valkey_waited": 1,
        "generator_waited": 1,
        "none": 1,
    }


def test_a_hold_up_that_ended_before_the_signal_was_sent_does_not_count() -> None:
    reports = [report(0, [(5.0, 2.5)])]

    assert holdups([(5.003, 5.020)], reports) == {"core0_stalled": 0, "none": 1}


def test_a_report_survives_its_trip_through_json() -> None:
    text = (
        '{"core": 1, "realtime": false, "stalls": [[1.5, 2.25]], '
        '"waits": {"valkey": [[1.51, 3.0]]}}'
    )

    assert ProbeReport.from_json(text) == ProbeReport(
        core=1, realtime=False, stalls=[(1.5, 2.25)], waits={"valkey": [(1.51, 3.0)]}
    )


def test_a_probe_on_a_real_core_reports_its_core_and_the_watched_process() -> None:
    core = min(os.sched_getaffinity(0))
    probe = CoreProbe(core, {"runner": os.getpid()})
    probe.start()
    time.sleep(0.5)

    seen = probe.stop()

    assert seen.core == core
    assert set(seen.waits) == {"runner"}
    assert all(ms > 2.0 for _, ms in seen.stalls)
    assert len(seen.speeds) >= 1, "the yardstick is timed four times a second"
    assert all(ms > 0 for _, ms in seen.speeds)


def test_a_report_with_its_speeds_survives_its_trip_through_json() -> None:
    seen = ProbeReport(0, True, [(1.5, 2.25)], {"hub": [(1.51, 3.0)]}, [(1.75, 0.91)])

    assert ProbeReport.from_json(seen.to_json()) == seen


def test_the_samples_well_over_the_fast_ones_mark_when_the_core_ran_slow() -> None:
    start = 100.0
    speeds = [(start + 5 + n / 4, 0.9) for n in range(16)]  # four seconds at full speed
    speeds[5] = (speeds[5][0], 1.4)  # 6.25 s into the run: 1.56 times as long
    speeds[6] = (speeds[6][0], 1.1)  # 1.22 times: not slow
    seen = ProbeReport(0, True, speeds=[(start + 1, 5.0), *speeds])  # the first: before the window

    figures = speed_figures(seen, (start + 5, start + 9), start)

    assert figures["samples"] == 16
    assert figures["p10_ms"] == 0.9
    assert figures["slow_at"] == [6.2]
    assert figures["slow_share"] == round(1 / 16, 3)


def test_a_window_without_samples_says_so() -> None:
    assert speed_figures(ProbeReport(0, True), (1.0, 2.0), 0.0) == {"samples": 0}


def test_the_run_delay_of_a_live_process_only_grows() -> None:
    before = run_delay_ns(os.getpid())
    time.sleep(0.01)

    assert run_delay_ns(os.getpid()) >= before >= 0


def test_waits_during_slow_deliveries_are_set_against_what_chance_would_give() -> None:
    # Valkey waited 6 ms in the sample ending at 10.010 and 1 ms in one far away.
    seen = report(1, [], valkey=[(10.010, 6.0), (10.510, 1.0)])
    slow = [(10.005, 10.025)]  # 20 ms, overlapping half of the 6 ms sample

    figures = waits_during(slow, seen, (10.0, 11.0))

    assert figures == {"valkey": {"ms_per_slow": 3.0, "by_chance_ms": 0.14}}


def test_no_slow_deliveries_give_no_wait_figures() -> None:
    assert waits_during([], report(1, [], valkey=[(1.0, 5.0)]), (0.0, 2.0)) == {}
