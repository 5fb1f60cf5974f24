"""Persistence: the only package that imports redis (see redis_store.py)."""

from .records import (
    Appended,
    AppendOutcome,
    ClaimedTimers,
    DeviceKind,
    DeviceRecord,
    Duplicate,
    Gone,
    OnlineChange,
    PairSnapshot,
    Scope,
    Stale,
    TokenRecord,
    WebhookRecord,
)
from .redis_store import (
    STATE_WRITTEN_EVERY,
    AppendRequest,
    Connection,
    Store,
    StoreUnavailable,
    Subscription,
    TimersAhead,
)

__all__ = [
    "STATE_WRITTEN_EVERY",
    "AppendOutcome",
    "AppendRequest",
    "Appended",
    "ClaimedTimers",
    "Connection",
    "DeviceKind",
    "DeviceRecord",
    "Duplicate",
    "Gone",
    "OnlineChange",
    "PairSnapshot",
    "Scope",
    "Stale",
    "Store",
    "StoreUnavailable",
    "Subscription",
    "TimersAhead",
    "TokenRecord",
    "WebhookRecord",
]
