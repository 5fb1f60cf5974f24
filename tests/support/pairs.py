"""A pair written straight into a store, for tests of the hub's modules below the HTTP API."""

from __future__ import annotations

from heartline_hub.auth import new_id
from heartline_hub.clock import now_ms
from heartline_hub.store import DeviceKind, DeviceRecord, Scope, Store

__all__ = ["new_pair"]


async def new_pair(store: Store) -> tuple[str, str]:
    """A new pair with one member and its phone: (pair id, member id)."""
    pair_id, member = new_id("p"), new_id("m")
    device = DeviceRecord(new_id("d"), member, DeviceKind.PHONE, Scope.FULL, "h", now_ms())
    assert await store.create_pair(pair_id, device, invite_hash="i", epoch=new_id("ep"), now=1)
    return pair_id, member
