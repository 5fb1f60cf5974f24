"""Recording events: fold, store atomically, retry when someone stored first.

Every event of a pair, whether a partner's signal or one of the hub's own
(``joined``, ``presence``, ``delivered``, the timer events), is recorded
here. The journal keeps the last snapshot it saw of each pair, decides the
event from it (a decision may also be "nothing to record"), folds it with the
protocol's own :func:`apply_event`, and asks the store to append it only if
the pair's version is still the one it folded on (SPEC.md 7.2). If another
hub stored first, it loads the new snapshot and decides again.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from heartline_protocol import (
    SIGNAL_KINDS,
    ErrorCode,
    Event,
    EventBody,
    ProtocolError,
    SpaceEnding,
    apply_event,
    decode_from_hub,
    encode,
)

from .clock import now_ms
from .store import (
    STATE_WRITTEN_EVERY,
    Appended,
    AppendRequest,
    Duplicate,
    Gone,
    PairSnapshot,
    Store,
)

__all__ = ["Claim", "Decision", "Idempotency", "Journal", "LocalFanout", "PairGone", "Recorded"]

MAX_ATTEMPTS = 16
CONTENTION_PAUSE_S = 0.002
"""After losing a race for a pair, wait up to this times the attempt number, at random:
the hub that just won has a fresh snapshot and would otherwise win every time."""
CACHED_PAIRS = 20_000


class PairGone(Exception):
    """The pair was unpaired: its sessions end (close 4501)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to record: the event's member, device and body."""

    member: str
    body: EventBody
    device: str | None = None


Decide = Callable[[PairSnapshot, int], Decision | None]
"""Given the current snapshot and the time, the event to record, or None for none.

It may raise :class:`ProtocolError` (an ack of a bid that is not there).
"""


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A client message id of a device, and a digest of what it asked for."""

    device: str
    client_id: str
    digest: str

    @property
    def field(self) -> str:
        return f"{self.device}:{self.client_id}"

    @classmethod
    def of(cls, device: str, client_id: str, content: bytes) -> Idempotency:
        return cls(device, client_id, hashlib.sha256(content).hexdigest()[:32])


@dataclass(frozen=True, slots=True)
class Recorded:
    """The stored event (``replayed``: it was stored before under the same id)."""

    event: Event
    frame: bytes
    replayed: bool = False


class Claim(Protocol):
    """This hub's word that it listens on a pair's channel, held until released."""

    def release(self) -> None: ...


class LocalFanout(Protocol):
    """What the journal needs of the fan-out (fanout.py): the node wires them together."""

    def claim_listening(self, pair_id: str) -> Claim | None:
        """A claim if this hub listens on the pair's channel, kept so until released."""

    def deliver_local(self, pair_id: str, seq: int, frame: bytes, *, echoed: bool) -> None:
        """An event this hub stored, for its sessions; ``echoed``: it was published."""


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._snapshots: OrderedDict[str, PairSnapshot] = OrderedDict()
        self._in_flight: dict[tuple[str, int], tuple[bytes, PairSnapshot]] = {}
        self.fanout: LocalFanout | None = None
        """Set by the node: this hub's sessions get its own events at once."""

    async def snapshot(self, pair_id: str) -> PairSnapshot:
        cached = self._snapshots.get(pair_id)
        return cached if cached is not None else await self.reload(pair_id)

    def cached(self, pair_id: str) -> PairSnapshot | None:
        """The last snapshot seen of the pair, if kept; it may be behind the store."""
        return self._snapshots.get(pair_id)

    async def record(
        self, pair_id: str, decide: Decide, *, idempotency: Idempotency | None = None
    ) -> Recorded | None:
        """Record the event ``decide`` picks, or nothing if it picks none."""
        snapshot = await self.snapshot(pair_id)
        for attempt in range(MAX_ATTEMPTS):
            now = now_ms()
            decision = decide(snapshot, now)
            if decision is None:
                return None
            recorded = await self.attempt(pair_id, snapshot, decision, now, idempotency)
            if recorded is not None:
                return recorded
            await _contention_pause(attempt)
            snapshot = await self.reload(pair_id)
        raise ProtocolError(ErrorCode.UNAVAILABLE, "the pair is too busy right now, retry")

    async def attempt(
        self,
        pair_id: str,
        snapshot: PairSnapshot,
        decision: Decision,
        now: int,
        idempotency: Idempotency | None = None,
        *,
        guard_presence: bool = False,
    ) -> Recorded | None:
        """One try at storing ``decision`` on ``snapshot``; None when someone stored first.

        ``guard_presence`` also refuses to store when the online devices
        changed since ``snapshot`` was read (presence events decide from them).
        """
        event = self._event(snapshot, decision, now)
        frame = encode(event)
        folded = _advance(snapshot, event)
        flight = (pair_id, event.seq)
        self._in_flight[flight] = mine = (frame, folded)
        claim = None if self.fanout is None else self.fanout.claim_listening(pair_id)
        try:
            request = self._request(
                snapshot,
                folded=folded,
                frame=frame,
                at=now,
                idempotency=idempotency,
                guard_presence=guard_presence,
                listening=claim is not None,
            )
            outcome = await self._store.append(pair_id, request)
        finally:
            if self._in_flight.get(flight) is mine:
                del self._in_flight[flight]
            if claim is not None:
                claim.release()
        if isinstance(outcome, Appended):
            self._remember(pair_id, folded)
            if self.fanout is not None:
                self.fanout.deliver_local(pair_id, event.seq, frame, echoed=outcome.published)
            return Recorded(event, frame)
        if isinstance(outcome, Duplicate):
            replayed = _replay(outcome.record, idempotency)
            if self._store.confirms_writes:
                await self._fan_out_again(pair_id, replayed)
            return replayed
        if isinstance(outcome, Gone):
            self.forget(pair_id)
            raise PairGone(pair_id)
        return None

    async def _fan_out_again(self, pair_id: str, replayed: Recorded) -> None:
        """Publish a resent signal's event again when writes wait for replicas.

        Its first answer may have been ``unavailable`` (no replica confirmed
        it in time), and then it was never published: without this, the
        partner would see it only at the pair's next event or at the
        fan-out's catch-up. Hubs that already forwarded it drop it by its
        sequence number.
        """
        event = replayed.event
        await self._store.publish_event(pair_id, event.seq, event.at, replayed.frame)
        if self.fanout is not None:
            self.fanout.deliver_local(pair_id, event.seq, replayed.frame, echoed=True)

    def observe(self, pair_id: str, seq: int, frame: bytes) -> None:
        """Fold an event stored by anyone (from fan-out) into the cached snapshot.

        The echo of this hub's own append often arrives before the append's
        reply; it is then recognised by its bytes, and the snapshot already
        folded for the append is used instead of decoding the frame again.
        """
        cached = self._snapshots.get(pair_id)
        if cached is None or seq <= cached.version:
            return
        if seq != cached.version + 1:
            self.forget(pair_id)
            return
        flight = self._in_flight.get((pair_id, seq))
        if flight is not None and flight[0] == frame:
            self._snapshots[pair_id] = flight[1]
            return
        event = decode_from_hub(frame)
        assert isinstance(event, Event)
        self._snapshots[pair_id] = _advance(cached, event)

    def forget(self, pair_id: str) -> None:
        self._snapshots.pop(pair_id, None)

    async def reload(self, pair_id: str) -> PairSnapshot:
        """The pair's snapshot read from the store now."""
        snapshot = await self._store.load(pair_id)
        if snapshot is None:
            self.forget(pair_id)
            raise PairGone(pair_id)
        self._remember(pair_id, snapshot)
        return snapshot

    def _remember(self, pair_id: str, snapshot: PairSnapshot) -> None:
        self._snapshots[pair_id] = snapshot
        self._snapshots.move_to_end(pair_id)
        while len(self._snapshots) > CACHED_PAIRS:
            self._snapshots.popitem(last=False)

    @staticmethod
    def _event(snapshot: PairSnapshot, decision: Decision, now: int) -> Event:
        seq = snapshot.version + 1
        return Event(
            seq=seq,
            id=f"{snapshot.epoch}.{seq}",
            at=now,
            member=decision.member,
            device=decision.device,
            body=decision.body,
        )

    @staticmethod
    def _request(
        snapshot: PairSnapshot,
        *,
        folded: PairSnapshot,
        frame: bytes,
        at: int,
        idempotency: Idempotency | None,
        guard_presence: bool,
        listening: bool,
    ) -> AppendRequest:
        """Store ``folded`` (the snapshot after the event) if ``snapshot`` is still current."""
        extra = [
            (name, str(value))
            for name, value in folded.marks.items()
            if snapshot.marks.get(name) != value
        ]
        return AppendRequest(
            expected_version=snapshot.version,
            frame=frame,
            time=at,
            state=folded.state if folded.state_version == folded.version else None,
            idem_field=None if idempotency is None else idempotency.field,
            idem_digest="" if idempotency is None else idempotency.digest,
            expected_online_rev=snapshot.online_rev if guard_presence else None,
            extra_fields=extra,
            listening=listening,
        )


async def _contention_pause(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, CONTENTION_PAUSE_S * (attempt + 1)))


def _advance(snapshot: PairSnapshot, event: Event) -> PairSnapshot:
    """The snapshot after ``event`` (built directly: ``dataclasses.replace`` costs more
    than the rest of this, for every event stored)."""
    state_due = event.seq - snapshot.state_version >= STATE_WRITTEN_EVERY
    return PairSnapshot(
        version=event.seq,
        epoch=snapshot.epoch,
        first_seq=snapshot.first_seq,
        state=apply_event(snapshot.state, event),
        state_version=event.seq if state_due else snapshot.state_version,
        online_rev=snapshot.online_rev,
        marks=_marks_after(snapshot.marks, event),
    )


def _marks_after(marks: dict[str, int], event: Event) -> dict[str, int]:
    if isinstance(event.body, SpaceEnding):
        return {**marks, f"ending:{event.member}": event.body.target}
    if event.kind in SIGNAL_KINDS:
        return {**marks, f"signal:{event.member}": event.seq}
    return marks


def _replay(record: bytes, idempotency: Idempotency | None) -> Recorded:
    """The original answer to a repeated client message id, if it asked for the same."""
    assert idempotency is not None
    digest, frame = record[:32].decode(), record[32:]
    if digest != idempotency.digest:
        raise ProtocolError(
            ErrorCode.CONFLICT,
            f"id: {idempotency.client_id!r} was already used for a different signal",
            field="id",
            id=idempotency.client_id,
        )
    event = decode_from_hub(frame)
    assert isinstance(event, Event)
    return Recorded(event, frame, replayed=True)
