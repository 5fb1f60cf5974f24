"""Pairs written straight through the hub's own store and journal, for scenarios at scale.

Pairing 100,000 couples over HTTP would take minutes; these records are the
ones the HTTP API writes (a pair, two members each with a phone, their
tokens, both ``joined`` events), in a fraction of the time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from heartline_hub import decisions
from heartline_hub.auth import hash_secret, new_id, new_token
from heartline_hub.clock import now_ms
from heartline_hub.journal import Journal
from heartline_hub.store import DeviceKind, DeviceRecord, Scope, Store, TokenRecord

__all__ = ["IN_FLIGHT", "SeededPair", "in_parallel", "seed_pair"]

IN_FLIGHT = 256


@dataclass(frozen=True, slots=True)
class SeededPair:
    id: str
    first: DeviceRecord
    second: DeviceRecord


async def seed_pair(store: Store, journal: Journal) -> SeededPair:
    """A pair whose two members joined, each with a phone and its token."""
    now = now_ms()
    pair_id, invite = new_id("p"), hash_secret(new_token())
    first, second = (
        DeviceRecord(new_id("d"), new_id("m"), DeviceKind.PHONE, Scope.FULL,
                     hash_secret(new_token()), now)
        for _ in range(2)
    )  # fmt: skip
    assert await store.create_pair(pair_id, first, invite_hash=invite, epoch=new_id("ep"), now=now)
    assert await store.join_pair(pair_id, second, invite_hash=invite, now=now) == 1
    for device in (first, second):
        record = TokenRecord(pair_id, device.member, device.id, device.scope)
        await store.save_token(device.token_hash, record)
        await journal.record(pair_id, decisions.joined(device.member, device.id))
    return SeededPair(pair_id, first, second)


async def in_parallel(count: int, work: Callable[[int], Awaitable[None]]) -> None:
    """``work(0)`` to ``work(count - 1)``, at most IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        async with gate:
            await work(index)

    await asyncio.gather(*(one(index) for index in range(count)))
