"""Reconnect delays: exponential, capped, and spread by full jitter."""

from __future__ import annotations

import random

from heartline import Backoff


def test_delays_stay_under_the_exponential_ceiling_and_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8, "full jitter reaches near the ceiling"
        assert min(delays) < ceiling * 0.2, "and near zero"


def test_a_huge_attempt_count_does_not_overflow() -> None:
    assert 0 <= Backoff().delay(10_000) <= 30.0
