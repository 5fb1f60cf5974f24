"""The reconnect storm's report: whose CPU the time to come back was."""

from __future__ import annotations

import os
import time

from bench.loadgen.storm import StormCpu, storm_verdict


def test_a_storm_whose_devices_filled_their_core_is_invalid() -> None:
    verdict = storm_verdict({"hub": 0.6, "generator": 0.97, "load_core_busy": 0.99})

    assert verdict == (
        "invalid",
        ["generator 97% during the storm", "load core 99% during the storm"],
    )


def test_a_storm_with_room_on_the_load_core_is_valid() -> None:
    assert storm_verdict({"hub": 0.99, "generator": 0.7, "load_core_busy": 0.8}) == ("valid", [])


def test_the_cpu_of_a_busy_process_is_read_over_the_storm() -> None:
    cpu = StormCpu(os.getpid())
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        pass

    figures = cpu.figures()

    assert set(figures) == {"hub", "generator", "load_core_busy"}
    assert figures["generator"] > 0.2
    assert figures["hub"] > 0.2  # the same process here
    assert 0.0 <= figures["load_core_busy"] <= 1.0
