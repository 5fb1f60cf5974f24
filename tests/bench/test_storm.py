"""The reconnect storm's report: whose CPU the time to come back was."""

from __future__ import annotations

import os
import time

from bench.loadgen.storm import (
    Device,
    Sends,
    StormCpu,
    check_against_log,
    slowest_by_second,
    storm_verdict,
)


def test_a_storm_whose_devices_filled_their_core_is_invalid() -> None:
    verdict = storm_verdict({"hub": 0.6, "generator": 0.97, "load_core_busy": 0.99})

    assert verdict == (
        "invalid",
        ["generator 97% during the storm", "load core 99% during the storm"],
    )


def test_a_storm_with_room_on_the_load_core_is_valid() -> None:
    assert storm_verdict({"hub": 0.99, "generator": 0.7, "load_core_busy": 0.8}) == ("valid", [])


def test_the_cpu_of_a_busy_process_is_read_over_the_storm() -> None:
    cpu = StormCpu(os.getpid(), os.getpid())
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        pass

    figures = cpu.figures()

    assert set(figures) == {"hub", "generator", "load_core_busy"}
    assert figures["generator"] > 0.2
    assert figures["hub"] > 0.2  # the same process here
    assert 0.0 <= figures["load_core_busy"] <= 1.0


def test_a_device_is_checked_against_its_pairs_version_while_connected() -> None:
    whole = Device("t1", pair="p1", first_version=3, seen={4, 5, 6})
    gapped = Device("t2", pair="p2", first_version=0, seen={1, 3}, duplicates=1, close_code=4002)

    checked = check_against_log([whole, gapped], versions=[6, 3])

    assert checked == {
        "events_expected": 6,
        "missed": 1,
        "duplicated": 1,
        "closed_by_hub": {"4002": 1},
    }


def test_the_stayers_slowest_answer_is_reported_for_each_second_after_the_cut() -> None:
    sends = Sends()
    for request, sent, answered, code in [
        ("before", 9.5, 9.6, "ok"),
        ("a", 10.1, 10.15, "ok"),
        ("b", 10.2, 10.5, "ok"),
        ("refused", 11.1, 11.2, "unavailable"),
        ("c", 12.9, 13.0, "ok"),
    ]:
        sends.sent[request] = sent
        sends.answered[request] = (answered, code)

    assert slowest_by_second(sends, cut_at=10.0, seconds=4) == [300.0, None, 100.0, None]
