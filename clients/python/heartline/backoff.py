"""Exponential backoff with full jitter (SPEC.md 7.9)."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait a random time between 0 and ``min(cap, base * 2 ** attempt)`` seconds.

    Full jitter spreads the reconnects of many clients after a hub restart,
    instead of having them all knock at the same moments.
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 32))
        return (rng or random).uniform(0, ceiling)
