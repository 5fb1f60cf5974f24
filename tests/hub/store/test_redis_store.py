"""The store keeps a pair's log, state, devices, tokens, invites, presence and timers.

``Store`` (server/heartline_hub/store/redis_store.py) is tested directly,
against real servers only (see conftest.py). Events are real protocol
frames: the state stored beside each one is its fold.
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from heartline_hub.auth import hash_secret, new_id, new_token
from heartline_hub.store import (
    Appended,
    AppendOutcome,
    AppendRequest,
    Connection,
    DeviceKind,
    DeviceRecord,
    Duplicate,
    Gone,
    OnlineChange,
    PairSnapshot,
    Scope,
    Stale,
    Store,
    StoreUnavailable,
    Subscription,
    TimersAhead,
    TokenRecord,
    WebhookRecord,
)
from heartline_hub.store.keys import PairKeys, invite_key, join_attempts_key, timer_shard_key
from heartline_hub.store.keys import token_key as token_key_of
from heartline_hub.store.redis_store import pack_state
from heartline_protocol import (
    CheckIn,
    Event,
    EventBody,
    ImBack,
    Joined,
    MemberStatus,
    NeedSpace,
    State,
    apply_event,
    decode_from_hub,
    encode,
)
from tests.support.servers import free_port

from .conftest import IDEMPOTENCY_TTL_MS, RETENTION_MS

A, B = "m_A", "m_B"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def device_of(member: str, *, kind: DeviceKind = DeviceKind.PHONE) -> tuple[DeviceRecord, str]:
    """A device record and the token whose hash it keeps."""
    token = new_token()
    record = DeviceRecord(
        id=new_id("d"),
        member=member,
        kind=kind,
        scope=Scope.FULL,
        token_hash=hash_secret(token),
        created=now_ms(),
    )
    return record, token


@dataclass
class Pair:
    """A pair made in the store, and the log as the test has folded it so far."""

    id: str
    epoch: str
    device: DeviceRecord
    invite_hash: str
    state: State = field(default_factory=lambda: State(version=0))

    @property
    def keys(self) -> PairKeys:
        return PairKeys(self.id)

    def event(self, at: int, body: EventBody, *, member: str = A) -> Event:
        seq = self.state.version + 1
        device = self.device.id if member == A else None
        return Event(
            seq=seq, id=f"{self.epoch}.{seq}", at=at, member=member, body=body, device=device
        )

    def request(
        self,
        event: Event,
        *,
        expected_version: int | None = None,
        idem_field: str | None = None,
        expected_online_rev: int | None = None,
        extra_fields: Sequence[tuple[str, str]] = (),
        listening: bool = False,
        with_state: bool = True,
    ) -> AppendRequest:
        frame = encode(event)
        return AppendRequest(
            expected_version=self.state.version if expected_version is None else expected_version,
            frame=frame,
            time=event.at,
            state=apply_event(self.state, event) if with_state else None,
            idem_field=idem_field,
            idem_digest="0" * 32,
            expected_online_rev=expected_online_rev,
            extra_fields=extra_fields,
            listening=listening,
        )

    async def append(
        self,
        store: Store,
        event: Event,
        *,
        idem_field: str | None = None,
        expected_online_rev: int | None = None,
        extra_fields: Sequence[tuple[str, str]] = (),
        listening: bool = False,
        with_state: bool = True,
    ) -> AppendOutcome:
        """Append ``event`` on the version the test holds; fold it if it was stored.

        ``with_state=False`` writes only the event, as the journal does between
        two writes of the whole state.
        """
        request = self.request(
            event,
            idem_field=idem_field,
            expected_online_rev=expected_online_rev,
            extra_fields=extra_fields,
            listening=listening,
            with_state=with_state,
        )
        outcome = await store.append(self.id, request)
        if isinstance(outcome, Appended):
            self.state = apply_event(self.state, event)
        return outcome


@pytest.fixture
async def pair(store: Store) -> AsyncIterator[Pair]:
    """A pair whose first member, A, has one phone; erased after the test."""
    device, _ = device_of(A)
    made = Pair(new_id("p"), new_id("ep"), device, hash_secret(secrets.token_hex(8)))
    assert await store.create_pair(
        made.id, device, invite_hash=made.invite_hash, epoch=made.epoch, now=now_ms()
    )
    yield made
    await store.erase_pair(made.id)


async def loaded(store: Store, pair: Pair) -> PairSnapshot:
    """The pair's snapshot as the store loads it now (the pair exists)."""
    snapshot = await store.load(pair.id)
    assert snapshot is not None
    return snapshot


async def keys_of(server: redis.Redis, pair_id: str) -> list[bytes]:
    return [key async for key in server.scan_iter(match=f"*{{p:{pair_id}}}*", count=1000)]


# A new pair.


async def test_a_new_pair_starts_empty_at_version_0_in_its_epoch(store: Store, pair: Pair) -> None:
    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.epoch, snapshot.first_seq) == (0, pair.epoch, 1)
    assert snapshot.state == State(version=0)
    assert (snapshot.online_rev, snapshot.marks) == (0, {})
    assert await store.members(pair.id) == [A]
    assert await store.devices(pair.id) == [pair.device]
    assert await store.read_events(pair.id, 0, 10) == []


async def test_a_pair_id_that_is_taken_is_not_created_again(store: Store, pair: Pair) -> None:
    intruder, _ = device_of("m_X")
    assert not await store.create_pair(
        pair.id, intruder, invite_hash="x", epoch="ep_other", now=now_ms()
    )
    snapshot = await loaded(store, pair)
    assert snapshot.epoch == pair.epoch
    assert await store.devices(pair.id) == [pair.device]


async def test_an_unknown_pair_has_no_snapshot(store: Store) -> None:
    assert await store.load(new_id("p")) is None


# Appending events.


async def test_an_event_at_the_expected_version_gets_the_next_sequence_number(
    store: Store, pair: Pair
) -> None:
    t0 = now_ms()
    space = pair.event(t0, NeedSpace(duration=1800, note="a walk", until=t0 + 1_800_000))
    outcome = await store.append(pair.id, pair.request(space, extra_fields=[(f"signal:{A}", "1")]))
    assert outcome == Appended(seq=1)

    stored = await store.read_events(pair.id, 0, 10)
    assert [seq for seq, _ in stored] == [1]
    assert decode_from_hub(stored[0][1]) == space

    snapshot = await loaded(store, pair)
    assert snapshot.version == 1
    assert snapshot.state == apply_event(State(version=0), space)
    member = snapshot.state.member(A)
    assert member is not None
    assert member.status is MemberStatus.SPACE
    assert snapshot.marks == {f"signal:{A}": 1}


async def test_events_follow_each_other_without_gaps(store: Store, pair: Pair) -> None:
    t0 = now_ms()
    outcomes = [
        await pair.append(store, pair.event(t0, Joined())),
        await pair.append(store, pair.event(t0 + 1, CheckIn(note="how are you?"))),
        await pair.append(store, pair.event(t0 + 2, ImBack())),
    ]
    assert outcomes == [Appended(1), Appended(2), Appended(3)]
    assert [seq for seq, _ in await store.read_events(pair.id, 1, 10)] == [2, 3]
    assert [seq for seq, _ in await store.read_events(pair.id, 0, 2)] == [1, 2]


async def test_a_mark_set_to_nothing_is_removed(store: Store, pair: Pair) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()), extra_fields=[(f"ending:{A}", "7")])
    await pair.append(store, pair.event(t0 + 1, ImBack()), extra_fields=[(f"ending:{A}", "")])
    snapshot = await loaded(store, pair)
    assert f"ending:{A}" not in snapshot.marks


async def test_an_append_on_a_stale_version_stores_nothing(store: Store, pair: Pair) -> None:
    t0 = now_ms()
    first = pair.event(t0, CheckIn())
    assert await pair.append(store, first) == Appended(seq=1)

    rival = pair.event(t0 + 5, ImBack())
    outcome = await store.append(pair.id, pair.request(rival, expected_version=0))
    assert outcome == Stale()

    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [1]
    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.state) == (1, pair.state)


async def test_an_append_decided_on_an_old_view_of_presence_stores_nothing(
    store: Store, pair: Pair
) -> None:
    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-1", "hub-1"))
    outcome = await pair.append(store, pair.event(now_ms(), Joined()), expected_online_rev=0)
    assert outcome == Stale()
    assert await store.read_events(pair.id, 0, 10) == []
    assert await pair.append(store, pair.event(now_ms(), Joined()), expected_online_rev=1) == (
        Appended(seq=1)
    )


async def test_a_repeated_client_message_id_gets_the_original_record(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    idem = f"{pair.device.id}:c-0001"
    original = pair.event(t0, CheckIn(note="thinking of you"))
    first = pair.request(original, idem_field=idem)
    assert await store.append(pair.id, first) == Appended(seq=1)
    pair.state = apply_event(pair.state, original)

    resent = pair.event(t0 + 50, CheckIn(note="thinking of you"))
    outcome = await store.append(pair.id, pair.request(resent, idem_field=idem))
    assert outcome == Duplicate(record=b"0" * 32 + first.frame)
    assert await server.hget(pair.keys.idem, idem) == b"0" * 32 + b"#1"

    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [1]
    snapshot = await loaded(store, pair)
    assert snapshot.version == 1


async def test_a_record_that_holds_its_events_frame_is_answered_as_it_is(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    """Records stored before they named their event by seq, or by a hub whose history
    may be trimmed before they expire."""
    t0 = now_ms()
    idem = f"{pair.device.id}:c-0002"
    original = pair.event(t0, CheckIn())
    assert await pair.append(store, original) == Appended(seq=1)
    record = b"1" * 32 + encode(original)
    await server.hset(pair.keys.idem, idem, record)

    outcome = await store.append(
        pair.id, pair.request(pair.event(t0 + 5, CheckIn()), idem_field=idem)
    )
    assert outcome == Duplicate(record=record)


async def test_an_id_whose_event_left_the_history_is_free_again(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    idem = f"{pair.device.id}:c-0003"
    await pair.append(store, pair.event(t0, CheckIn()), idem_field=idem)
    await pair.append(store, pair.event(t0 + 1, ImBack()))
    await server.xtrim(pair.keys.log, minid="2-0", approximate=False)

    assert await pair.append(store, pair.event(t0 + 2, CheckIn()), idem_field=idem) == (
        Appended(seq=3)
    )
    assert await server.hget(pair.keys.idem, idem) == b"0" * 32 + b"#3"


async def test_a_hub_that_trims_history_before_ids_expire_keeps_the_frame_in_the_record(
    store_url: str, server: redis.Redis, pair: Pair
) -> None:
    short = Store.from_url(store_url, idempotency_ttl_ms=RETENTION_MS, retention_ms=1_000)
    try:
        idem = f"{pair.device.id}:c-0004"
        original = pair.event(now_ms(), CheckIn())
        await pair.append(short, original, idem_field=idem)
        assert await server.hget(pair.keys.idem, idem) == b"0" * 32 + encode(original)
    finally:
        await short.close()


async def test_an_append_on_an_erased_pair_is_gone(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    await store.erase_pair(pair.id)
    outcome = await pair.append(store, pair.event(now_ms(), Joined()), idem_field="d:c-1")
    assert outcome == Gone()
    assert await keys_of(server, pair.id) == []


async def test_an_append_on_a_pair_that_never_existed_is_gone(
    store: Store, server: redis.Redis
) -> None:
    ghost = Pair(new_id("p"), "ep_ghost", device_of(A)[0], "x")
    assert await ghost.append(store, ghost.event(now_ms(), Joined())) == Gone()
    assert await keys_of(server, ghost.id) == []


# The whole state, written once in a few events.


async def test_a_state_written_now_and_then_loads_as_the_fold_of_every_event(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    bodies: list[EventBody] = [CheckIn(note="there?"), ImBack(), CheckIn()]
    for offset, body in enumerate(bodies, start=1):
        await pair.append(store, pair.event(t0 + offset, body), with_state=False)

    assert await server.hget(pair.keys.state, "base_v") == b"1"
    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.state_version) == (4, 1)
    assert snapshot.state == pair.state

    await pair.append(store, pair.event(t0 + 9, ImBack()))
    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.state_version, snapshot.state) == (5, 5, pair.state)


async def test_after_an_append_no_state_field_is_left_for_a_hub_of_the_earlier_layout(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    """Such a hub reads ``state`` as the state at ``version``: finding none, it fails to
    load the pair (during a rolling upgrade) instead of folding on a state behind it."""
    assert await server.hexists(pair.keys.state, "state")
    await pair.append(store, pair.event(now_ms(), Joined()), with_state=False)
    assert not await server.hexists(pair.keys.state, "state")
    assert await server.hget(pair.keys.state, "base_v") == b"0"


async def test_a_pair_left_by_a_hub_of_the_earlier_layout_loads_and_appends_as_before(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(store, pair.event(t0 + 1, CheckIn()), with_state=False)
    old_hubs_event = pair.event(t0 + 2, ImBack())
    await server.xadd(pair.keys.log, {"e": encode(old_hubs_event), "t": t0 + 2}, id="3-0")
    pair.state = apply_event(pair.state, old_hubs_event)
    await server.hset(pair.keys.state, mapping={"version": 3, "state": pack_state(pair.state)})

    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.state_version, snapshot.state) == (3, 3, pair.state)

    await pair.append(store, pair.event(t0 + 3, CheckIn()), with_state=False)
    assert not await server.hexists(pair.keys.state, "state")
    assert await server.hget(pair.keys.state, "base_v") == b"3"
    snapshot = await loaded(store, pair)
    assert (snapshot.version, snapshot.state_version, snapshot.state) == (4, 3, pair.state)


async def test_a_log_trimmed_by_hand_past_the_stored_state_is_an_error_not_a_wrong_state(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(store, pair.event(t0 + 1, CheckIn()), with_state=False)
    await pair.append(store, pair.event(t0 + 2, ImBack()), with_state=False)
    await server.xtrim(pair.keys.log, minid="3-0", approximate=False)

    with pytest.raises(redis.DataError, match="does not reach version 3"):
        await store.load(pair.id)


# Retention and expiry, decided by the times the appends carry.


async def test_history_past_retention_is_trimmed_on_a_later_append(
    store: Store, pair: Pair
) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(store, pair.event(t0 + 10_000, CheckIn()))
    snapshot = await loaded(store, pair)
    assert snapshot.first_seq == 1

    later = t0 + RETENTION_MS + 5_000
    assert await pair.append(store, pair.event(later, ImBack())) == Appended(seq=3)

    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [2, 3]
    snapshot = await loaded(store, pair)
    assert (snapshot.first_seq, snapshot.version) == (2, 3)


async def test_history_is_trimmed_again_once_its_new_oldest_event_is_past_retention(
    store: Store, pair: Pair
) -> None:
    t0 = now_ms()
    for offset in (0, 10_000, 20_000):
        await pair.append(store, pair.event(t0 + offset, CheckIn()))

    await pair.append(store, pair.event(t0 + RETENTION_MS + 5_000, ImBack()))
    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [2, 3, 4]
    await pair.append(store, pair.event(t0 + RETENTION_MS + 15_000, ImBack()))

    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [3, 4, 5]
    snapshot = await loaded(store, pair)
    assert snapshot.first_seq == 3


async def test_retention_keeps_the_events_after_the_stored_state_until_it_is_written_again(
    store: Store, pair: Pair
) -> None:
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(store, pair.event(t0 + 10_000, CheckIn()), with_state=False)

    later = t0 + RETENTION_MS + 20_000
    await pair.append(store, pair.event(later, ImBack()), with_state=False)
    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [2, 3]
    snapshot = await loaded(store, pair)
    assert (snapshot.first_seq, snapshot.state_version, snapshot.state) == (2, 1, pair.state)

    await pair.append(store, pair.event(later + 1, CheckIn()))
    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [3, 4]
    snapshot = await loaded(store, pair)
    assert (snapshot.first_seq, snapshot.state_version, snapshot.state) == (3, 4, pair.state)


async def test_a_log_stored_without_its_oldest_time_is_still_trimmed(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    """A pair stored before the state hash kept ``head_t`` has its log's head read once."""
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(store, pair.event(t0 + 10_000, CheckIn()))
    await server.hdel(pair.keys.state, "head_t")

    await pair.append(store, pair.event(t0 + RETENTION_MS + 5_000, ImBack()))

    assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [2, 3]
    assert await server.hget(pair.keys.state, "head_t") == str(t0 + 10_000).encode()


async def test_expired_idempotency_records_are_removed_on_a_later_append(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    t0 = now_ms()
    idem = f"{pair.device.id}:c-0001"
    assert await pair.append(store, pair.event(t0, CheckIn()), idem_field=idem) == Appended(1)
    within = await pair.append(store, pair.event(t0 + 5_000, CheckIn()), idem_field=idem)
    assert isinstance(within, Duplicate)

    after_ttl = t0 + IDEMPOTENCY_TTL_MS + 1
    assert await pair.append(store, pair.event(after_ttl, ImBack())) == Appended(2)
    assert not await server.hexists(pair.keys.idem, idem)
    assert await server.zscore(pair.keys.idem_expiry, idem) is None

    reused = await pair.append(store, pair.event(after_ttl + 1, CheckIn()), idem_field=idem)
    assert reused == Appended(3)


# Presence.


async def test_a_device_stays_online_until_its_last_connection_ends(
    store: Store, pair: Pair
) -> None:
    async def online_rev() -> int:
        return (await loaded(store, pair)).online_rev

    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-1", "hub-1"))
    assert (await store.online_members(pair.id), await online_rev()) == ({A}, 1)

    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-2", "hub-1"))
    assert (await store.online_members(pair.id), await online_rev()) == ({A}, 2)

    await store.clear_online(pair.id, Connection(A, pair.device.id, "conn-1", "hub-1"))
    assert (await store.online_members(pair.id), await online_rev()) == ({A}, 3)

    await store.clear_online(pair.id, Connection(A, pair.device.id, "conn-2", "hub-1"))
    assert (await store.online_members(pair.id), await online_rev()) == (set(), 4)

    await store.clear_online(pair.id, Connection(A, pair.device.id, "conn-2", "hub-1"))
    assert await online_rev() == 4, "clearing a connection that is gone changes nothing"


async def test_a_change_of_the_online_hash_tells_what_the_pair_looked_like_then(
    store: Store, pair: Pair
) -> None:
    """The hub decides presence from it: the online_rev and version it read, and whether
    the connection's member is still online, all in the same step as the change."""
    phone = Connection(A, pair.device.id, "conn-phone", "hub-1")
    watch = Connection(A, "d_watch", "conn-watch", "hub-2")
    partner = Connection(B, "d_partner", "conn-partner", "hub-1")
    await pair.append(store, pair.event(now_ms(), Joined()))

    assert await store.set_online(pair.id, phone) == OnlineChange(1, 1, True)
    assert await store.set_online(pair.id, partner) == OnlineChange(2, 1, True)
    assert await store.set_online(pair.id, watch) == OnlineChange(3, 1, True)
    assert await store.clear_online(pair.id, phone) == OnlineChange(4, 1, True)
    assert await store.clear_online(pair.id, watch) == OnlineChange(5, 1, False)
    assert await store.clear_online(pair.id, watch) == OnlineChange(5, 1, False)


async def test_a_change_of_the_online_hash_of_a_pair_that_is_gone_tells_nothing(
    store: Store,
) -> None:
    gone = new_id("p")

    assert await store.set_online(gone, Connection(A, "d_x", "conn-1", "hub-1")) is None
    assert await store.clear_online(gone, Connection(A, "d_x", "conn-1", "hub-1")) is None


async def test_the_marks_of_a_dead_hub_are_cleared_and_its_members_named(
    store: Store, pair: Pair
) -> None:
    await store.set_online(pair.id, Connection(A, pair.device.id, "c-1", "hub-dead"))
    await store.set_online(pair.id, Connection(A, pair.device.id, "c-2", "hub-alive"))
    assert await store.clear_hub_online(pair.id, "hub-dead") == [A]
    assert await store.online_members(pair.id) == {A}
    assert await store.clear_hub_online(pair.id, "hub-alive") == [A]
    assert await store.online_members(pair.id) == set()


async def test_a_hub_learns_when_its_alive_key_had_lapsed(store: Store) -> None:
    hub = f"hub-{secrets.token_hex(4)}"
    assert not await store.keep_hub_alive(hub, 100), "a first renewal finds no key"
    assert await store.keep_hub_alive(hub, 100), "renewed in time"
    assert await store.hub_alive(hub)
    await asyncio.sleep(0.3)
    assert not await store.hub_alive(hub), "a hub sharing this server may sweep it now"
    assert not await store.keep_hub_alive(hub, 10_000), "it lapsed: the hub may have been swept"
    assert hub not in await store.dead_hubs()
    await store.forget_hub(hub)


async def test_one_hub_sweeps_a_dead_hub_and_the_claim_shows_until_released(
    store: Store,
) -> None:
    hub = f"hub-{secrets.token_hex(4)}"
    assert not await store.sweeping(hub)
    assert await store.claim_sweep(hub, 10_000)
    assert not await store.claim_sweep(hub, 10_000), "another hub skips it"
    assert await store.sweeping(hub)
    await store.release_sweep(hub)
    assert not await store.sweeping(hub)
    assert await store.claim_sweep(hub, 10_000)
    await store.forget_hub(hub)
    assert not await store.sweeping(hub), "forgetting the hub ends its sweep"


async def test_a_member_stays_online_while_another_device_is_connected(
    store: Store, pair: Pair
) -> None:
    watch, _ = device_of(A, kind=DeviceKind.WATCH)
    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-phone", "hub-1"))
    await store.set_online(pair.id, Connection(A, watch.id, "conn-watch", "hub-1"))
    await store.clear_online(pair.id, Connection(A, pair.device.id, "conn-phone", "hub-1"))
    assert await store.online_members(pair.id) == {A}


async def test_presence_on_an_erased_pair_leaves_nothing_behind(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    await store.erase_pair(pair.id)
    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-1", "hub-1"))
    assert await keys_of(server, pair.id) == []


# Timers.


@pytest.fixture
async def shard(server: redis.Redis) -> AsyncIterator[int]:
    """A timer shard no hub sweeps (hubs use shards 0 to timer_shards - 1)."""
    number = 100_000 + secrets.randbelow(1_000_000)
    yield number
    await server.delete(timer_shard_key(number))


async def test_a_due_timer_is_claimed_once_until_its_lease_runs_out(
    store: Store, shard: int
) -> None:
    t0 = now_ms()
    await store.schedule_timers(shard, {"p_x|m_A|1|ended": t0 - 1})
    await store.schedule_timers(shard, {"p_x|m_A|2|ended": t0 + 60_000})
    lease_end = t0 + 5_000

    assert await store.claim_timers(shard, t0, lease_end, 10) == ["p_x|m_A|1|ended"]
    assert await store.claim_timers(shard, t0, lease_end, 10) == []
    assert await store.claim_timers(shard, lease_end - 1, lease_end + 5_000, 10) == []
    assert await store.claim_timers(shard, lease_end, lease_end + 5_000, 10) == ["p_x|m_A|1|ended"]


async def test_a_claim_takes_at_most_its_limit(store: Store, shard: int) -> None:
    t0 = now_ms()
    for number in range(3):
        await store.schedule_timers(shard, {f"p_x|m_A|{number}|ended": t0 - 10 + number})
    first = await store.claim_timers(shard, t0, t0 + 5_000, 2)
    second = await store.claim_timers(shard, t0, t0 + 5_000, 2)
    assert first == ["p_x|m_A|0|ended", "p_x|m_A|1|ended"]
    assert second == ["p_x|m_A|2|ended"]


async def test_a_cancelled_timer_is_never_claimed(store: Store, shard: int) -> None:
    t0 = now_ms()
    await store.schedule_timers(shard, {"p_x|m_A|1|ended": t0 - 1})
    await store.cancel_timers(shard, "p_x|m_A|1|ended")
    assert await store.claim_timers(shard, t0 + 60_000, t0 + 65_000, 10) == []


async def test_the_due_timers_of_several_shards_are_claimed_together(
    store: Store, server: redis.Redis | redis.RedisCluster
) -> None:
    shards = [100_000 + secrets.randbelow(1_000_000) for _ in range(4)]
    t0 = now_ms()
    try:
        await store.schedule_timers(shards[0], {"p_x|m_A|1|ended": t0 - 1})
        await store.schedule_timers(shards[2], {"p_y|m_B|2|ended": t0 - 1})
        await server.script_flush()
        claimed, _ = await store.claim_timers_of(shards, t0, t0 + 5_000, 10)
        assert claimed == [["p_x|m_A|1|ended"], [], ["p_y|m_B|2|ended"], []], "even after a flush"
        again = await store.claim_timers_of(shards, t0, t0 + 5_000, 10)
        assert again.claimed == [[], [], [], []]
    finally:
        await server.delete(*(timer_shard_key(shard) for shard in shards))


async def test_a_claim_tells_when_the_next_timer_left_in_its_shards_is_due(
    store: Store, server: redis.Redis | redis.RedisCluster
) -> None:
    """A hub sleeps until then: the earliest due or lease end left, None for empty shards."""
    shards = [100_000 + secrets.randbelow(1_000_000) for _ in range(3)]
    t0 = now_ms()
    try:
        assert await store.claim_timers_of(shards, t0, t0 + 5_000, 10) == ([[], [], []], None)
        await store.schedule_timers(shards[0], {"p_x|m_A|1|ended": t0 + 60_000})
        await store.schedule_timers(shards[1], {"p_y|m_B|2|ended": t0 - 1})
        await store.schedule_timers(shards[2], {"p_z|m_A|3|ended": t0 + 90_000})

        claimed, next_due = await store.claim_timers_of(shards, t0, t0 + 5_000, 10)
        assert claimed == [[], ["p_y|m_B|2|ended"], []]
        assert next_due == t0 + 5_000, "the claimed timer's lease ends first"
        await store.cancel_timers(shards[1], "p_y|m_B|2|ended")
        assert (await store.claim_timers_of(shards, t0, t0 + 5_000, 10)).next_due == t0 + 60_000
    finally:
        await server.delete(*(timer_shard_key(shard) for shard in shards))


async def test_on_one_server_timers_queued_ahead_come_before_the_next_command(
    store: Store, server: redis.Redis | redis.RedisCluster, shard: int
) -> None:
    t0 = now_ms()
    await store.claim_timers(shard, t0, t0 + 5_000, 10)
    ahead = store.schedule_timers_ahead(shard, {"p_x|m_A|1|ended": t0 - 1})
    if isinstance(server, redis.RedisCluster):
        assert ahead is None, "on a cluster the timers' slot may be on another primary"
        return
    assert ahead is not None
    claimed = await store.claim_timers(shard, t0, t0 + 5_000, 10)
    assert claimed == ["p_x|m_A|1|ended"], "sent after the timers without waiting for them"
    await ahead.written()


async def test_on_one_server_a_removal_can_be_queued_without_waiting(
    store: Store, server: redis.Redis | redis.RedisCluster, shard: int
) -> None:
    t0 = now_ms()
    await store.schedule_timers(shard, {"p_x|m_A|1|ended": t0 - 1})
    queued = store.cancel_timers_unawaited(shard, "p_x|m_A|1|ended")
    assert queued is not isinstance(server, redis.RedisCluster)
    if not queued:
        await store.cancel_timers(shard, "p_x|m_A|1|ended")
    assert await store.claim_timers(shard, t0 + 60_000, t0 + 65_000, 10) == []


async def test_timers_ahead_whose_write_failed_make_the_signal_unavailable() -> None:
    reply: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    reply.set_exception(RedisConnectionError("connection to Redis lost"))
    with pytest.raises(StoreUnavailable):
        await TimersAhead(reply).written()


async def test_abandoned_timers_ahead_leave_no_unretrieved_failure() -> None:
    loop = asyncio.get_running_loop()
    failures: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: failures.append(context))
    try:
        reply: asyncio.Future[object] = loop.create_future()
        TimersAhead(reply).abandon()
        reply.set_exception(RedisConnectionError("connection to Redis lost"))
        del reply
        await asyncio.sleep(0)
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert failures == []


# Invites, joining, devices and tokens.


async def test_an_invite_is_redeemed_once(store: Store, server: redis.Redis, pair: Pair) -> None:
    code_hash = hash_secret(secrets.token_hex(8))
    await store.save_invite(code_hash, pair.id, 60)
    assert 0 < await server.ttl(invite_key(code_hash)) <= 60
    assert await store.redeem_invite(code_hash) == pair.id
    assert await store.redeem_invite(code_hash) is None


async def test_a_new_invite_replaces_the_previous_one(store: Store, pair: Pair) -> None:
    old, new = hash_secret("OLD" + secrets.token_hex(8)), hash_secret("NEW" + secrets.token_hex(8))
    await store.replace_invite(pair.id, old, 60)
    await store.replace_invite(pair.id, new, 60)
    assert await store.redeem_invite(old) is None
    assert await store.redeem_invite(new) == pair.id


async def test_the_partner_joins_with_the_pairs_pending_invite_only(
    store: Store, pair: Pair
) -> None:
    partner, _ = device_of(B)
    assert await store.join_pair(pair.id, partner, invite_hash="not-the-invite", now=now_ms()) == -1
    assert await store.join_pair(pair.id, partner, invite_hash=pair.invite_hash, now=now_ms()) == 1
    assert await store.members(pair.id) == [A, B]
    assert partner in await store.devices(pair.id)

    third, _ = device_of("m_C")
    fresh = hash_secret(secrets.token_hex(8))
    assert await store.join_pair(pair.id, third, invite_hash=pair.invite_hash, now=now_ms()) == -1
    await store.replace_invite(pair.id, fresh, 60)
    assert await store.join_pair(pair.id, third, invite_hash=fresh, now=now_ms()) == 0
    assert await store.members(pair.id) == [A, B]
    await store.redeem_invite(fresh)


async def test_nobody_joins_an_erased_pair(store: Store, pair: Pair) -> None:
    await store.erase_pair(pair.id)
    partner, _ = device_of(B)
    assert await store.join_pair(pair.id, partner, invite_hash=pair.invite_hash, now=now_ms()) == 0
    assert await store.devices(pair.id) == []


async def test_a_token_is_found_by_its_hash_until_its_device_is_removed(
    store: Store, pair: Pair
) -> None:
    watch, token = device_of(A, kind=DeviceKind.WATCH)
    record = TokenRecord(pair=pair.id, member=A, device=watch.id, scope=Scope.READ)
    await store.add_device(pair.id, watch)
    await store.save_token(watch.token_hash, record)
    assert await store.token(hash_secret(token)) == record
    assert watch in await store.devices(pair.id)

    assert await store.remove_device(pair.id, watch.id) == watch
    assert await store.token(hash_secret(token)) is None
    assert watch not in await store.devices(pair.id)
    assert await store.remove_device(pair.id, watch.id) is None


async def test_failed_joins_are_counted_per_client_within_a_window(
    store: Store, server: redis.Redis
) -> None:
    client = f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(4)}"
    try:
        assert await store.failed_joins(client) == 0
        for _ in range(3):
            await store.count_failed_join(client, 60)
        await store.count_failed_join(f"{client}-other", 60)
        assert await store.failed_joins(client) == 3
        assert await store.failed_joins(f"{client}-other") == 1
        assert 0 < await server.ttl(join_attempts_key(client)) <= 60
    finally:
        await server.delete(join_attempts_key(client), join_attempts_key(f"{client}-other"))


# Unpairing.


async def test_erasing_a_pair_removes_every_key_tokens_included(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    a_token_hash = pair.device.token_hash
    await store.save_token(a_token_hash, TokenRecord(pair.id, A, pair.device.id, Scope.FULL))
    partner, _ = device_of(B)
    assert await store.join_pair(pair.id, partner, invite_hash=pair.invite_hash, now=now_ms()) == 1
    await store.save_token(partner.token_hash, TokenRecord(pair.id, B, partner.id, Scope.FULL))
    watch, _ = device_of(A, kind=DeviceKind.WATCH)
    await store.add_device(pair.id, watch)
    await store.save_token(watch.token_hash, TokenRecord(pair.id, A, watch.id, Scope.READ))
    t0 = now_ms()
    await pair.append(store, pair.event(t0, Joined()))
    await pair.append(
        store, pair.event(t0 + 1, NeedSpace(duration=60, until=t0 + 60_001)), idem_field="d:c-1"
    )
    await store.set_online(pair.id, Connection(A, pair.device.id, "conn-1", "hub-1"))
    relay = WebhookRecord("wh_1", A, "https://127.0.0.1:9/h", "whsec_x", False, t0)
    await store.add_webhook(pair.id, relay, 0)
    tokens = [token_key_of(device.token_hash) for device in (pair.device, partner, watch)]
    assert all([await server.exists(key) for key in tokens])
    assert all([await server.exists(key) for key in pair.keys.all()])
    assert pair.id in await store.webhook_pairs()

    await store.erase_pair(pair.id)

    assert [key for key in pair.keys.all() if await server.exists(key)] == []
    assert pair.id not in await store.webhook_pairs()
    assert [key for key in tokens if await server.exists(key)] == []
    assert await keys_of(server, pair.id) == []
    assert await store.load(pair.id) is None


async def test_a_webhooks_lease_is_held_by_one_hub_at_a_time(store: Store, pair: Pair) -> None:
    relay = WebhookRecord("wh_1", A, "https://127.0.0.1:9/h", "whsec_x", False, now_ms())
    await store.add_webhook(pair.id, relay, 0)

    assert await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000)
    assert not await store.lease_webhook(pair.id, "wh_1", "hub-2", 15_000)
    assert await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000), "its holder renews it"
    await store.release_webhook(pair.id, "wh_1", "hub-1")
    assert await store.lease_webhook(pair.id, "wh_1", "hub-2", 15_000)


async def test_erasing_a_pair_ends_its_webhooks_leases(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    relay = WebhookRecord("wh_1", A, "https://127.0.0.1:9/h", "whsec_x", False, now_ms())
    await store.add_webhook(pair.id, relay, 0)
    assert await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000)

    await store.erase_pair(pair.id)

    assert await keys_of(server, pair.id) == []
    assert not await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000), "nor renewed"


async def test_no_lease_is_taken_for_a_webhook_that_is_gone(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    relay = WebhookRecord("wh_1", A, "https://127.0.0.1:9/h", "whsec_x", False, now_ms())
    await store.add_webhook(pair.id, relay, 0)
    await store.remove_webhook(pair.id, "wh_1")

    assert not await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000)
    await store.erase_pair(pair.id)
    assert not await store.lease_webhook(pair.id, "wh_1", "hub-1", 15_000)
    assert not await server.exists(pair.keys.webhook_lease("wh_1")), "a hub still delivering"


async def test_a_delivery_finished_after_the_pair_was_erased_leaves_no_key(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    relay = WebhookRecord("wh_1", A, "https://127.0.0.1:9/h", "whsec_x", False, now_ms())
    await store.add_webhook(pair.id, relay, 0)
    await store.webhook_delivered(pair.id, "wh_1", 3)
    assert await server.hget(pair.keys.webhooks, "c:wh_1") == b"3"

    await store.erase_pair(pair.id)
    await store.webhook_delivered(pair.id, "wh_1", 4)
    assert not await server.exists(pair.keys.webhooks)


async def test_erasing_a_pair_waiting_for_its_partner_removes_the_invite(
    store: Store, server: redis.Redis, pair: Pair
) -> None:
    code_hash = hash_secret(secrets.token_hex(8))
    await store.replace_invite(pair.id, code_hash, 60)
    assert await server.exists(invite_key(code_hash))

    await store.erase_pair(pair.id)

    assert not await server.exists(invite_key(code_hash))
    assert await store.redeem_invite(code_hash) is None
    assert await keys_of(server, pair.id) == []


# Live fan-out.


async def subscribed(store: Store, pair_id: str) -> Subscription:
    """A subscription to the pair's channel, once the server confirmed it."""
    subscription = store.subscription()
    await subscription.subscribe([pair_id])
    confirmed = None
    for _ in range(10):
        confirmed = await subscription.next_message(timeout=0.5)
        if confirmed is not None:
            break
    assert confirmed is not None
    assert confirmed[:2] == ("subscribe", pair_id)
    return subscription


async def next_published(subscription: Subscription, wait_s: float = 2.0) -> Any:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        message = await subscription.next_message(timeout=0.1)
        if message is not None:
            return message
    return None


async def test_an_appended_event_is_published_on_the_pairs_channel(
    store: Store, pair: Pair
) -> None:
    subscription = await subscribed(store, pair.id)
    try:
        event = pair.event(now_ms(), CheckIn(note="hi"))
        assert await pair.append(store, event) == Appended(seq=1, published=True)
        published = await next_published(subscription)
        assert published == ("message", pair.id, b"e1:%d:%b" % (event.at, encode(event)))
    finally:
        await subscription.close()


async def test_an_append_from_the_only_hub_listening_publishes_nothing_on_one_server(
    store: Store, store_url: str, pair: Pair
) -> None:
    """The hub delivers its own events to its sessions at once and would drop the echo.
    On a cluster the script cannot count subscribers of the replicas, so it publishes."""
    on_cluster = store_url.startswith("redis+cluster")
    this_hubs = await subscribed(store, pair.id)
    try:
        event = pair.event(now_ms(), CheckIn(note="hi"))
        outcome = await pair.append(store, event, listening=True)

        assert outcome == Appended(seq=1, published=on_cluster)
        echo = await next_published(this_hubs, wait_s=0.3)
        assert (echo is not None) == on_cluster
    finally:
        await this_hubs.close()


async def test_an_append_from_a_listening_hub_is_published_when_another_hub_listens_too(
    store: Store, pair: Pair
) -> None:
    this_hubs = await subscribed(store, pair.id)
    other_hubs = await subscribed(store, pair.id)
    try:
        event = pair.event(now_ms(), CheckIn(note="hi"))

        assert await pair.append(store, event, listening=True) == Appended(seq=1, published=True)
        message = ("message", pair.id, b"e1:%d:%b" % (event.at, encode(event)))
        assert await next_published(other_hubs) == message
        assert await next_published(this_hubs) == message
    finally:
        await this_hubs.close()
        await other_hubs.close()


# Redis away.


async def test_an_unreachable_server_is_store_unavailable_not_a_redis_error() -> None:
    nowhere = Store.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        idempotency_ttl_ms=IDEMPOTENCY_TTL_MS,
        retention_ms=RETENTION_MS,
    )
    try:
        operations: list[Callable[[], Awaitable[object]]] = [
            nowhere.ping,
            lambda: nowhere.load("p_x"),
            lambda: nowhere.token("x"),
            lambda: nowhere.redeem_invite("x"),
        ]
        for operation in operations:
            with pytest.raises(StoreUnavailable) as failed:
                await operation()
            assert not isinstance(failed.value, RedisError)
    finally:
        await nowhere.close()


async def test_a_burst_of_calls_waits_for_a_connection_instead_of_failing(store: Store) -> None:
    """More calls at once than the pool has connections: every one is answered."""
    await asyncio.gather(*(store.ping() for _ in range(600)))
