"""Fan-out: each event reaches the pair's sessions on this hub once, in order (fanout.py).

A real store, journal and fan-out in this process; the listeners stand in
for sessions and record what they were given.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from heartline_hub import decisions
from heartline_hub.fanout import Fanout
from heartline_hub.journal import Journal
from heartline_hub.store import Store
from heartline_protocol import CheckIn, CloseCode, ProtocolError
from tests.support.pairs import new_pair

ECHO_WAIT_S = 0.3
"""Long enough for a pub/sub echo over loopback, many times over."""


@dataclass(eq=False)
class Recorder:
    device_id: str = "d_listener"
    seen: list[int] = field(default_factory=list)

    def deliver(self, seq: int, frame: bytes) -> None:
        del frame
        self.seen.append(seq)

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None:
        raise AssertionError(f"session ended: {code} {reason} {error}")


@dataclass
class Hub:
    journal: Journal
    fanout: Fanout


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    store = Store.from_url(redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    yield store
    await store.close()


@pytest.fixture
async def hub(store: Store) -> AsyncIterator[Hub]:
    journal = Journal(store)
    fanout = Fanout(store, journal)
    journal.on_stored = fanout.deliver_local
    await fanout.start()
    await asyncio.wait_for(fanout.connected.wait(), 5)
    yield Hub(journal, fanout)
    await fanout.stop()


async def test_an_event_this_hub_stored_is_delivered_at_once_and_its_echo_dropped(
    hub: Hub, store: Store
) -> None:
    pair_id, member = await new_pair(store)
    listener = Recorder()
    await hub.fanout.attach(pair_id, listener)

    recorded = await hub.journal.record(pair_id, decisions.signal(member, "d", CheckIn()))

    assert recorded is not None
    assert listener.seen == [recorded.event.seq]
    await asyncio.sleep(ECHO_WAIT_S)
    assert listener.seen == [recorded.event.seq]


async def test_events_another_hub_stored_arrive_by_pub_sub_in_order(hub: Hub, store: Store) -> None:
    pair_id, member = await new_pair(store)
    listener = Recorder()
    await hub.fanout.attach(pair_id, listener)
    elsewhere = Journal(store)

    for _ in range(3):
        await elsewhere.record(pair_id, decisions.signal(member, "d", CheckIn()))
    ours = await hub.journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
    await asyncio.sleep(ECHO_WAIT_S)

    assert ours is not None
    assert ours.event.seq == 4
    assert listener.seen == [1, 2, 3, 4]


async def test_an_event_after_one_not_yet_seen_waits_for_the_echo(hub: Hub, store: Store) -> None:
    pair_id, _ = await new_pair(store)
    listener = Recorder()
    room = await hub.fanout.attach(pair_id, listener)

    hub.fanout.deliver_local(pair_id, room.last_seq + 2, b"frame")

    assert listener.seen == []
    assert room.last_seq == 0
