"""Token buckets: a burst is allowed, then the rate, and the wait is told in ms."""

from __future__ import annotations

import time

from heartline_hub.ratelimit import TokenBucket


def test_a_burst_then_a_wait_until_the_next_token() -> None:
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    wait_ms = bucket.take()
    assert 1 <= wait_ms <= 500


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    assert bucket.take() == 0
    assert bucket.take() > 0
    time.sleep(0.05)
    assert bucket.take() == 0
