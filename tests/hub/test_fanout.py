"""Fan-out: each event reaches the pair's sessions on this hub once, in order (fanout.py).

A real store, journal and fan-out in this process; the listeners stand in
for sessions and record what they were given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as redis

from heartline_hub import decisions
from heartline_hub import fanout as fanout_module
from heartline_hub.fanout import Fanout
from heartline_hub.journal import Journal
from heartline_hub.store import Store, StoreUnavailable
from heartline_hub.store.keys import PairKeys
from heartline_protocol import CheckIn, CloseCode, ProtocolError
from tests.support.pairs import new_pair
from tests.support.servers import valkey_server

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


@contextlib.asynccontextmanager
async def running_hub(store: Store) -> AsyncIterator[Hub]:
    """A journal and a fan-out wired as the node wires them, subscribed to pub/sub."""
    journal = Journal(store)
    fanout = Fanout(store, journal)
    journal.fanout = fanout
    await fanout.start()
    try:
        await asyncio.wait_for(fanout.connected.wait(), 5)
        yield Hub(journal, fanout)
    finally:
        await fanout.stop()


@pytest.fixture
async def hub(store: Store) -> AsyncIterator[Hub]:
    async with running_hub(store) as hub:
        yield hub


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


@dataclass(eq=False)
class Ended(Recorder):
    """A listener that records how its session was ended instead of failing the test."""

    ends: list[CloseCode] = field(default_factory=list)

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None:
        del reason, error
        self.ends.append(code)


async def test_a_log_that_went_back_in_a_failover_sends_the_sessions_to_resume() -> None:
    """A failover that lost the pair's last events: the log is shorter than what the
    room forwarded, and its next events reuse those numbers. The room's sessions are
    closed with 4004, to come back with a position ahead of the log (history_lost)."""
    with valkey_server() as server:
        url = str(server.connection_url)
        store = Store.from_url(url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
        journal = Journal(store)
        fanout = Fanout(store, journal)
        await fanout.start()
        try:
            pair_id, member = await new_pair(store)
            listener = Ended()
            room = await fanout.attach(pair_id, listener)
            for _ in range(3):
                await journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
            await asyncio.sleep(ECHO_WAIT_S)
            assert listener.seen == [1, 2, 3]

            async with redis.Redis.from_url(url) as admin:
                await lose_events_after(admin, pair_id, kept=1)
                await admin.client_kill_filter(_type="pubsub")
            async with asyncio.timeout(5):
                while not listener.ends:
                    await asyncio.sleep(0.02)

            assert listener.ends == [CloseCode.UNAVAILABLE]
            assert room.last_seq == 1
            await Journal(store).record(pair_id, decisions.signal(member, "d", CheckIn()))
            await asyncio.sleep(ECHO_WAIT_S)
            assert listener.seen == [1, 2, 3, 2], "the reused number is forwarded, not dropped"
        finally:
            await fanout.stop()
            await store.close()


async def lose_events_after(admin: redis.Redis, pair_id: str, kept: int) -> None:
    """Leave the pair as a replica that missed its last events would: a shorter log,
    and the state as it was at ``kept`` (its version, here)."""
    keys = PairKeys(pair_id)
    survivors: Any = await admin.xrange(keys.log, max=f"{kept}-0")
    await admin.delete(keys.log)
    for entry, fields in survivors:
        await admin.xadd(keys.log, fields, id=entry)
    await admin.hset(keys.state, "version", kept)


async def test_a_stored_event_pubsub_never_carried_reaches_the_room_by_the_catch_up(
    hub: Hub, store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet pair's last event, stored but never published (here: a write no replica
    confirmed, which the hub does not fan out), is found by the catch-up's version check."""
    monkeypatch.setattr(fanout_module, "CATCH_UP_CYCLE_S", 1.0)
    monkeypatch.setattr(fanout_module, "CATCH_UP_TICK_S", 0.1)
    pair_id, member = await new_pair(store)
    listener = Recorder()
    await hub.fanout.attach(pair_id, listener)
    unconfirmed = Store.from_url(
        redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000, wait_replicas=1, wait_ms=10
    )
    try:
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
            await Journal(unconfirmed).record(pair_id, decisions.signal(member, "d", CheckIn()))
    finally:
        await unconfirmed.close()
    await asyncio.sleep(ECHO_WAIT_S)
    assert listener.seen == [], "not fanned out"

    async with asyncio.timeout(3):
        while listener.seen != [1]:
            await asyncio.sleep(0.05)


# Events of pairs only this hub listens to are not published (append.lua).


async def test_an_event_only_this_hub_listens_for_is_delivered_once_without_an_echo(
    hub: Hub, store: Store
) -> None:
    pair_id, member = await new_pair(store)
    listener = Recorder()
    room = await hub.fanout.attach(pair_id, listener)
    claim = hub.fanout.claim_listening(pair_id)
    assert claim is room
    claim.release()

    recorded = await hub.journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
    await asyncio.sleep(ECHO_WAIT_S)

    assert recorded is not None
    assert listener.seen == [recorded.event.seq]
    assert room.claims == 0


async def test_an_unpublished_event_stored_while_the_room_catches_up_comes_from_the_log(
    hub: Hub, store: Store
) -> None:
    """The room is busy (a catch-up holds its lock), so the event cannot go out at once;
    no echo will come either: the room is healed from the log once it is free."""
    pair_id, member = await new_pair(store)
    listener = Recorder()
    room = await hub.fanout.attach(pair_id, listener)

    async with room.lock:
        recorded = await hub.journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
        await asyncio.sleep(0.05)
        assert listener.seen == []
    await asyncio.sleep(ECHO_WAIT_S)

    assert recorded is not None
    assert listener.seen == [recorded.event.seq]


async def test_a_room_stays_subscribed_while_an_append_claims_this_hub_listens(
    hub: Hub, store: Store
) -> None:
    pair_id, _ = await new_pair(store)
    listener = Recorder()
    await hub.fanout.attach(pair_id, listener)
    claim = hub.fanout.claim_listening(pair_id)
    assert claim is not None

    leaving = asyncio.ensure_future(hub.fanout.detach(pair_id, listener))
    await asyncio.sleep(0.05)
    assert not leaving.done()
    assert hub.fanout.serves(pair_id)

    claim.release()
    await asyncio.wait_for(leaving, 1)
    assert not hub.fanout.serves(pair_id)
    assert hub.fanout.claim_listening(pair_id) is None


async def test_a_room_that_is_not_subscribed_yet_makes_no_claim(hub: Hub, store: Store) -> None:
    pair_id, _ = await new_pair(store)

    assert hub.fanout.claim_listening(pair_id) is None


async def test_an_event_this_hub_stored_reaches_another_hub_listening_too(
    hub: Hub, store: Store
) -> None:
    async with running_hub(store) as other:
        pair_id, member = await new_pair(store)
        here, there = Recorder(), Recorder()
        await hub.fanout.attach(pair_id, here)
        await other.fanout.attach(pair_id, there)

        recorded = await hub.journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
        await asyncio.sleep(ECHO_WAIT_S)

        assert recorded is not None
        assert here.seen == there.seen == [recorded.event.seq]


async def test_the_last_two_sessions_leaving_together_both_wait_for_the_claim(
    hub: Hub, store: Store
) -> None:
    pair_id, _ = await new_pair(store)
    first, second = Recorder("d_first"), Recorder("d_second")
    await hub.fanout.attach(pair_id, first)
    await hub.fanout.attach(pair_id, second)
    claim = hub.fanout.claim_listening(pair_id)
    assert claim is not None

    leaving = [
        asyncio.ensure_future(hub.fanout.detach(pair_id, first)),
        asyncio.ensure_future(hub.fanout.detach(pair_id, second)),
    ]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in leaving)

    claim.release()
    await asyncio.wait_for(asyncio.gather(*leaving), 1)
    assert not hub.fanout.serves(pair_id)
