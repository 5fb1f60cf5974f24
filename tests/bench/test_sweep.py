"""The sweep's verdict: the maximum sustainable rate passed three runs in a row."""

from __future__ import annotations

from typing import Any

from bench.loadgen.sweep import max_sustainable, summary


def runs(rate: int, verdicts: str) -> list[dict[str, Any]]:
    names = {"p": "pass", "f": "fail", "i": "invalid"}
    return [{"rate": rate, "verdict": names[v], "reasons": []} for v in verdicts]


def test_the_highest_rate_with_three_passes_in_a_row_is_sustainable() -> None:
    results = runs(500, "ppp") + runs(1000, "ppp") + runs(2000, "pfp") + runs(3000, "fff")
    assert max_sustainable(results, 3) == 1000


def test_a_higher_rate_that_passed_counts_even_after_a_lower_one_failed() -> None:
    results = runs(500, "ppp") + runs(1000, "fppp") + runs(2000, "ppi")
    assert max_sustainable(results, 3) == 1000


def test_no_rate_passing_three_times_in_a_row_is_none() -> None:
    assert max_sustainable(runs(500, "pip"), 3) is None


def test_the_summary_names_each_rate_its_verdicts_and_the_sustainable_rate() -> None:
    results = [
        {**run, "partner_ms": {"p50": 1.0, "p99": 5.0 + n, "p99.9": 9.0}, "result_ms": {"p99": 6.0},
         "send_lag_ms": {"p99": 1.0}, "hub_cpu": 0.5, "valkey_cpu": 0.2, "generator_cpu": 0.3,
         "lost": 0, "undelivered_at_end": n % 2, "failed": n}
        for n, run in enumerate(runs(500, "ppp"))
    ]  # fmt: skip

    text = summary(results, 3)

    assert "| 500 | pass, pass, pass | 1.0 / 6.0 / 9.0 | 6.0 |" in text
    assert "| 50% | 20% | 30% | 0 / 1 | 3 |" in text
    assert text.endswith("maximum sustainable rate: 500 signals/s")
