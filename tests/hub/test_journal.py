"""The journal: every event gets the next sequence number, even with two hubs racing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from heartline_hub import decisions
from heartline_hub.journal import Idempotency, Journal, PairGone
from heartline_hub.store import (
    STATE_WRITTEN_EVERY,
    Appended,
    AppendOutcome,
    AppendRequest,
    Store,
    StoreUnavailable,
    Subscription,
)
from heartline_protocol import CheckIn, ErrorCode, ImBack, ProtocolError, decode_from_hub
from tests.support.pairs import new_pair


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    store = Store.from_url(redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    yield store
    await store.close()


async def test_two_hubs_recording_at_once_get_consecutive_sequence_numbers(store: Store) -> None:
    pair_id, member = await new_pair(store)
    hub_one, hub_two = Journal(store), Journal(store)
    await hub_one.snapshot(pair_id)
    await hub_two.snapshot(pair_id)

    async def record(journal: Journal, count: int) -> list[int]:
        seqs = []
        for _ in range(count):
            recorded = await journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
            assert recorded is not None
            seqs.append(recorded.event.seq)
        return seqs

    ones, twos = await asyncio.gather(record(hub_one, 15), record(hub_two, 15))
    assert sorted(ones + twos) == list(range(1, 31))
    stored = await store.read_events(pair_id, 0, 100)
    assert [seq for seq, _ in stored] == list(range(1, 31))
    snapshot = await store.load(pair_id)
    assert snapshot is not None
    assert snapshot.version == 30
    assert len(snapshot.state.bids) == 30


async def test_the_whole_state_is_written_once_in_a_few_events_and_loads_the_same(
    store: Store,
) -> None:
    pair_id, member = await new_pair(store)
    journal = Journal(store)
    versions_written = []
    for _ in range(2 * STATE_WRITTEN_EVERY + 3):
        recorded = await journal.record(pair_id, decisions.signal(member, "d", CheckIn()))
        assert recorded is not None
        loaded = await store.load(pair_id)
        assert loaded is not None
        assert loaded == journal.cached(pair_id)
        versions_written.append(loaded.state_version)
    assert sorted(set(versions_written)) == [0, STATE_WRITTEN_EVERY, 2 * STATE_WRITTEN_EVERY]


async def test_a_repeated_client_message_id_gets_the_original_event(store: Store) -> None:
    pair_id, member = await new_pair(store)
    journal = Journal(store)
    key = Idempotency.of("d", "c-1", b"check_in")
    first = await journal.record(pair_id, decisions.signal(member, "d", CheckIn()), idempotency=key)
    again = await Journal(store).record(
        pair_id, decisions.signal(member, "d", CheckIn()), idempotency=key
    )
    assert first is not None
    assert again is not None
    assert (again.event, again.replayed, first.replayed) == (first.event, True, False)
    assert (await store.load(pair_id)).version == 1  # type: ignore[union-attr]

    other = Idempotency.of("d", "c-1", b"im_back")
    with pytest.raises(ProtocolError) as raised:
        await journal.record(pair_id, decisions.signal(member, "d", ImBack()), idempotency=other)
    assert raised.value.code is ErrorCode.CONFLICT


async def test_a_decision_of_nothing_records_nothing(store: Store) -> None:
    pair_id, member = await new_pair(store)
    journal = Journal(store)
    assert await journal.record(pair_id, decisions.joined(member, "d")) is not None
    assert await journal.record(pair_id, decisions.joined(member, "d")) is None
    assert [seq for seq, _ in await store.read_events(pair_id, 0, 10)] == [1]


async def test_observing_fan_out_keeps_the_cached_snapshot_current(store: Store) -> None:
    pair_id, member = await new_pair(store)
    writer, reader = Journal(store), Journal(store)
    await reader.snapshot(pair_id)
    recorded = await writer.record(pair_id, decisions.signal(member, "d", CheckIn(note="hi")))
    assert recorded is not None
    reader.observe(pair_id, recorded.event.seq, recorded.frame)
    cached = await reader.snapshot(pair_id)
    assert cached.version == 1
    assert cached.state.bids[0].note == "hi"
    assert cached.marks == {f"signal:{member}": 1}
    assert decode_from_hub(recorded.frame) == recorded.event


async def test_recording_on_an_unpaired_pair_says_so(store: Store) -> None:
    pair_id, member = await new_pair(store)
    journal = Journal(store)
    await journal.snapshot(pair_id)
    await store.erase_pair(pair_id)
    with pytest.raises(PairGone):
        await journal.record(pair_id, decisions.signal(member, "d", CheckIn()))


class EchoFirst(Store):
    """The real store, but each appended event's pub/sub echo reaches the journal first.

    Which of the two a hub reads first is up to the server and the event
    loop; this makes the echo-first order happen every time.
    """

    journal: Journal

    async def append(self, pair_id: str, request: AppendRequest) -> AppendOutcome:
        outcome = await super().append(pair_id, request)
        if isinstance(outcome, Appended):
            self.journal.observe(pair_id, outcome.seq, request.frame)
        return outcome


async def test_the_echo_of_its_own_event_arriving_first_is_not_decoded_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EchoFirst.from_url(redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    assert isinstance(store, EchoFirst)
    try:
        pair_id, member = await new_pair(store)
        journal = store.journal = Journal(store)
        await journal.snapshot(pair_id)

        def must_not_decode(frame: bytes) -> None:
            raise AssertionError(f"decoded {frame!r} although this hub folded it already")

        monkeypatch.setattr("heartline_hub.journal.decode_from_hub", must_not_decode)
        for _ in range(3):
            await journal.record(pair_id, decisions.signal(member, "d", CheckIn()))

        cached = await journal.snapshot(pair_id)
        stored = await store.load(pair_id)
        assert stored is not None
        assert (cached.version, cached.state) == (3, stored.state)
    finally:
        await store.close()


async def test_a_resent_signal_no_replica_confirmed_is_fanned_out_once_confirmed(
    cluster_url: str,
) -> None:
    """Unconfirmed, the event is stored but not published; its resend, confirmed, is."""
    kept = {"idempotency_ttl_ms": 60_000, "retention_ms": 86_400_000}
    strict = Store.from_url(cluster_url, **kept, wait_replicas=2, wait_ms=20)
    confirming = Store.from_url(cluster_url, **kept, wait_replicas=1, wait_ms=1000)
    subscription = confirming.subscription()
    try:
        pair_id, member = await new_pair(confirming)
        await subscription.subscribe([pair_id])
        assert (await _next_message(subscription))[0] == "subscribe"
        key = Idempotency.of("d", "c-1", b"check_in")
        with pytest.raises(StoreUnavailable, match="1 of 2 replicas"):
            await Journal(strict).record(
                pair_id, decisions.signal(member, "d", CheckIn()), idempotency=key
            )
        assert await subscription.next_message(timeout=0.3) is None

        resent = await Journal(confirming).record(
            pair_id, decisions.signal(member, "d", CheckIn()), idempotency=key
        )

        assert resent is not None
        assert resent.replayed
        kind, pair, payload = await _next_message(subscription)
        assert (kind, pair) == ("message", pair_id)
        assert payload.startswith(b"e1:")
        assert payload.endswith(resent.frame)
    finally:
        await subscription.close()
        await strict.close()
        await confirming.close()


async def _next_message(subscription: Subscription) -> tuple[str, str, bytes]:
    async with asyncio.timeout(5):
        while (message := await subscription.next_message(timeout=0.25)) is None:
            pass
        return message
