"""The beat the hub's periodic chores share (beat.py)."""

from __future__ import annotations

import asyncio

import pytest

from heartline_hub.beat import BEAT_S, beat_due, next_beat, on_beat, sleep_to_beat, until_beat


@pytest.mark.parametrize(
    ("when", "beat"), [(0.0, 0.0), (10.1, 10.0), (10.13, 10.25), (10.374, 10.25), (10.376, 10.5)]
)
def test_a_time_falls_on_the_nearest_beat(when: float, beat: float) -> None:
    assert on_beat(when) == beat


def test_a_chore_keeps_its_period_on_average_and_each_wait_strays_at_most_half_a_beat() -> None:
    now, waits = 1000.037, []
    for _ in range(400):
        wait = until_beat(1.0, now)
        waits.append(wait)
        now += wait + 0.013  # the chore's own work, before it sleeps again
    assert all(1.0 - BEAT_S / 2 <= wait <= 1.0 + BEAT_S / 2 for wait in waits)
    assert sum(waits) / len(waits) == pytest.approx(1.0 - 0.013, abs=0.01)


@pytest.mark.parametrize(("now", "beat"), [(10.0, 10.25), (10.01, 10.25), (10.2499, 10.25)])
def test_the_next_beat_is_after_now_and_at_most_a_beat_away(now: float, beat: float) -> None:
    assert next_beat(now) == beat


def test_a_period_shorter_than_a_beat_is_kept_as_it_is() -> None:
    assert until_beat(0.05, 1000.037) == 0.05


def test_a_grid_of_a_beat_or_more_wakes_on_the_beat_and_a_finer_one_when_due() -> None:
    assert beat_due(1000.13, BEAT_S) == 1000.25
    assert beat_due(1000.13, 0.96) == 1000.25
    assert beat_due(1000.13, 0.15) == 1000.13


@pytest.mark.parametrize("now", [1000.0, 1000.1249, 1000.1251, 1000.2499])
def test_a_wait_of_one_beat_is_at_least_half_a_beat(now: float) -> None:
    assert until_beat(BEAT_S, now) >= BEAT_S / 2


async def test_chores_with_different_periods_started_apart_wake_on_the_same_beats() -> None:
    loop = asyncio.get_running_loop()
    woken: list[float] = []

    async def chore(period_s: float, start_after_s: float) -> None:
        await asyncio.sleep(start_after_s)
        for _ in range(2):
            await sleep_to_beat(period_s)
            woken.append(loop.time())

    await asyncio.gather(chore(0.5, 0.0), chore(0.75, 0.07), chore(1.0, 0.11))

    assert len(woken) == 6
    assert all(abs(when - on_beat(when)) < 0.01 for when in woken), woken
