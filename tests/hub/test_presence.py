"""Presence: a device connecting or leaving is recorded once, from a view of the pair
that was current (presence.py).

A real store and a real hub node in this process (not started: no sessions,
timers or fan-out tasks); the tests count how often the journal reads the
pair again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from heartline_hub import decisions
from heartline_hub.journal import Journal
from heartline_hub.node import Node
from heartline_hub.presence import announce
from heartline_hub.settings import Settings
from heartline_hub.store import Connection, PairSnapshot, Scope, Store, TokenRecord
from heartline_protocol import CheckIn, Event, Presence, decode_from_hub
from tests.support.pairs import new_pair


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    store = Store.from_url(redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    yield store
    await store.close()


class CountedReloads:
    """The node's journal, with its reads of a pair from the store counted."""

    def __init__(self, journal: Journal) -> None:
        self.count = 0
        self._reload = journal.reload
        journal.reload = self._counted  # type: ignore[method-assign]

    async def _counted(self, pair_id: str) -> PairSnapshot:
        self.count += 1
        return await self._reload(pair_id)


async def joined_pair(node: Node) -> TokenRecord:
    """A pair whose member has joined (so presence applies), cached by the node's journal."""
    pair_id, member = await new_pair(node.store)
    device = "d_phone"
    await node.journal.record(pair_id, decisions.joined(member, device))
    return TokenRecord(pair_id, member, device, Scope.FULL)


async def presence_events(store: Store, pair_id: str) -> list[tuple[str, bool]]:
    events = [decode_from_hub(frame) for _, frame in await store.read_events(pair_id, 0, 100)]
    return [
        (event.member, event.body.online)
        for event in events
        if isinstance(event, Event) and isinstance(event.body, Presence)
    ]


async def test_a_device_connecting_and_leaving_is_decided_without_reading_the_pair_again(
    store: Store,
) -> None:
    node = Node(Settings(), store)
    identity = await joined_pair(node)
    reloads = CountedReloads(node.journal)

    await announce(node, identity, "conn-1", online=True)
    await announce(node, identity, "conn-1", online=False)

    assert await presence_events(store, identity.pair) == [
        (identity.member, True),
        (identity.member, False),
    ]
    assert reloads.count == 0


async def test_a_second_device_of_an_online_member_records_nothing(store: Store) -> None:
    node = Node(Settings(), store)
    identity = await joined_pair(node)
    await announce(node, identity, "conn-phone", online=True)
    watch = TokenRecord(identity.pair, identity.member, "d_watch", Scope.READ)

    await announce(node, watch, "conn-watch", online=True)
    await announce(node, identity, "conn-phone", online=False)

    assert await presence_events(store, identity.pair) == [(identity.member, True)]


async def test_a_cached_snapshot_behind_the_store_is_read_again_before_deciding(
    store: Store,
) -> None:
    node = Node(Settings(), store)
    identity = await joined_pair(node)
    elsewhere = Journal(store)
    await elsewhere.record(identity.pair, decisions.signal(identity.member, "d", CheckIn()))
    reloads = CountedReloads(node.journal)

    await announce(node, identity, "conn-1", online=True)

    assert await presence_events(store, identity.pair) == [(identity.member, True)]
    assert reloads.count == 1
    snapshot = await store.load(identity.pair)
    assert snapshot is not None
    cached = node.journal.cached(identity.pair)
    assert cached == snapshot


async def test_another_connection_changing_between_decides_again(store: Store) -> None:
    """This hub's view is current when read, but another device comes online before the
    event is stored: append.lua refuses it (online_rev moved) and it is decided again."""
    node = Node(Settings(), store)
    identity = await joined_pair(node)
    tablet = Connection(identity.member, "d_tablet", "conn-tablet", "another-hub")
    original_attempt = node.journal.attempt
    raced = False

    async def attempt_after_a_race(*args: Any, **kwargs: Any) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            await store.set_online(identity.pair, tablet)
        return await original_attempt(*args, **kwargs)

    node.journal.attempt = attempt_after_a_race  # type: ignore[method-assign]

    await announce(node, identity, "conn-1", online=True)

    assert raced
    assert await presence_events(store, identity.pair) == [(identity.member, True)]
    snapshot = await store.load(identity.pair)
    assert snapshot is not None
    assert snapshot.online_rev == 2
