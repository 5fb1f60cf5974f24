"""The hub's clock: server time in milliseconds since the Unix epoch (SPEC.md 3.2)."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
