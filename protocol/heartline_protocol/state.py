"""The shared state of a pair, as every device sees it (SPEC.md 6.3).

Theory of operation: the state is the fold of the pair's event log. Its
``version`` is the sequence number of the last event folded in, so a device
that holds a snapshot at version V and then applies every event after V in
order holds the same state as the hub.

A member's status moves only along :data:`STATUS_TRANSITIONS`:

===============  ==============  ===============
status           event           new status
===============  ==============  ===============
available        need_space      space
space            need_space      space (a new end)
check_in_due     need_space      space
space            im_back         available
check_in_due     im_back         available
space            space_ended     check_in_due
===============  ==============  ===============

Any other (status, event) pair leaves the status as it is. Times are absolute
server times in milliseconds, so a widget can count down to ``until`` and show
"check-in due" on its own when the time passes.

The state's parts (:class:`MemberState`, :class:`Bid`, :class:`BidAck`) are
frozen msgspec structs that CPython's cycle collector does not track
(``gc=False``): they hold only numbers, strings and each other, so they can
never be part of a reference cycle, and a hub holds about two dozen for
every pair it serves. Tracked, they were most of what each collection pass
walked while a thousand pairs filled their bids (BENCHMARKS.md, twelfth
slice). :class:`State` itself stays a frozen dataclass.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from .errors import ErrorCode, ProtocolError
from .events import HubEventKind
from .fields import check_bool, check_id, check_int, check_text, check_token, optional
from .signals import SignalKind
from .wire import WireMap, compact, get, parse_map, parse_optional_map, sequence_field

__all__ = [
    "STATUS_TRANSITIONS",
    "Bid",
    "BidAck",
    "MemberState",
    "MemberStatus",
    "State",
    "next_status",
]

T = TypeVar("T")


class MemberStatus(enum.StrEnum):
    AVAILABLE = "available"
    SPACE = "space"
    CHECK_IN_DUE = "check_in_due"


STATUS_TRANSITIONS: dict[tuple[MemberStatus, str], MemberStatus] = {
    (MemberStatus.AVAILABLE, SignalKind.NEED_SPACE): MemberStatus.SPACE,
    (MemberStatus.SPACE, SignalKind.NEED_SPACE): MemberStatus.SPACE,
    (MemberStatus.CHECK_IN_DUE, SignalKind.NEED_SPACE): MemberStatus.SPACE,
    (MemberStatus.SPACE, SignalKind.IM_BACK): MemberStatus.AVAILABLE,
    (MemberStatus.CHECK_IN_DUE, SignalKind.IM_BACK): MemberStatus.AVAILABLE,
    (MemberStatus.SPACE, HubEventKind.SPACE_ENDED): MemberStatus.CHECK_IN_DUE,
}


def next_status(status: MemberStatus, event_kind: str) -> MemberStatus:
    """The member's status after one of their events of ``event_kind``."""
    return STATUS_TRANSITIONS.get((status, event_kind), status)


def _check_status(value: object, field: str) -> MemberStatus:
    """A v1 status; new statuses come with a new protocol version (SPEC.md 9)."""
    token = check_token(value, field)
    try:
        return MemberStatus(token)
    except ValueError:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, f"{field}: unknown status {token!r}", field=field
        ) from None


class MemberState(msgspec.Struct, frozen=True, gc=False):
    """One member: status, the space they are in, and presence."""

    id: str
    status: MemberStatus = MemberStatus.AVAILABLE
    since: int | None = None
    until: int | None = None
    note: str | None = None
    space_seq: int | None = None
    online: bool = False
    last_seen: int | None = None
    received: int = 0
    """The highest sequence number a device of this member confirmed (``delivered``)."""

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        msgspec.structs.force_setattr(self, "status", _check_status(self.status, "status"))
        optional(check_int, self.since, "since")
        optional(check_int, self.until, "until")
        optional(check_text, self.note, "note")
        optional(check_int, self.space_seq, "space_seq", lo=1)
        check_bool(self.online, "online")
        optional(check_int, self.last_seen, "last_seen")
        check_int(self.received, "received")
        if self.status is not MemberStatus.AVAILABLE:
            self._require_space_fields()

    def _require_space_fields(self) -> None:
        """A member in space or with a check-in due has the space's end and event."""
        for name in ("until", "space_seq"):
            if getattr(self, name) is None:
                raise ProtocolError(
                    ErrorCode.INVALID_FIELD,
                    f"{name}: required with status {self.status.value}",
                    field=name,
                )

    def to_map(self) -> WireMap:
        return compact(
            id=self.id,
            status=self.status.value,
            since=self.since,
            until=self.until,
            note=self.note,
            space_seq=self.space_seq,
            online=self.online,
            last_seen=self.last_seen,
            received=self.received,
        )

    @classmethod
    def from_map(cls, m: WireMap) -> MemberState:
        return cls(
            id=m.get("id"),  # type: ignore[arg-type]
            status=m.get("status"),  # type: ignore[arg-type]
            since=m.get("since"),
            until=m.get("until"),
            note=m.get("note"),
            space_seq=m.get("space_seq"),
            online=get(m, "online", False),
            last_seen=m.get("last_seen"),
            received=get(m, "received", 0),
        )


class BidAck(msgspec.Struct, frozen=True, gc=False):
    """The acknowledgment that closed a bid: the ``ack`` event at ``seq``."""

    seq: int
    member: str
    at: int
    reply: str | None = None

    def __post_init__(self) -> None:
        check_int(self.seq, "seq", lo=1)
        check_id(self.member, "member")
        check_int(self.at, "at")
        optional(check_text, self.reply, "reply")

    def to_map(self) -> WireMap:
        return compact(seq=self.seq, member=self.member, at=self.at, reply=self.reply)

    @classmethod
    def from_map(cls, m: WireMap) -> BidAck:
        return cls(seq=m.get("seq"), member=m.get("member"), at=m.get("at"), reply=m.get("reply"))  # type: ignore[arg-type]


class Bid(msgspec.Struct, frozen=True, gc=False):
    """A ``feeling_disconnected`` or ``check_in`` and, once heard, its ack."""

    seq: int
    kind: str
    member: str
    at: int
    note: str | None = None
    wish: str | None = None
    ack: BidAck | None = None

    def __post_init__(self) -> None:
        check_int(self.seq, "seq", lo=1)
        check_token(self.kind, "kind")
        check_id(self.member, "member")
        check_int(self.at, "at")
        optional(check_text, self.note, "note")
        optional(check_token, self.wish, "wish")

    @property
    def open(self) -> bool:
        return self.ack is None

    def to_map(self) -> WireMap:
        ack = None if self.ack is None else self.ack.to_map()
        return compact(
            seq=self.seq,
            kind=self.kind,
            member=self.member,
            at=self.at,
            note=self.note,
            wish=self.wish,
            ack=ack,
        )

    @classmethod
    def from_map(cls, m: WireMap) -> Bid:
        ack = parse_optional_map(m.get("ack"), "ack", BidAck.from_map)
        return cls(
            seq=m.get("seq"),  # type: ignore[arg-type]
            kind=m.get("kind"),  # type: ignore[arg-type]
            member=m.get("member"),  # type: ignore[arg-type]
            at=m.get("at"),  # type: ignore[arg-type]
            note=m.get("note"),
            wish=m.get("wish"),
            ack=ack,
        )


@dataclass(frozen=True, slots=True)
class State:
    """A pair's state at ``version`` (SPEC.md 6.3)."""

    version: int
    members: tuple[MemberState, ...] = ()
    bids: tuple[Bid, ...] = ()

    def __post_init__(self) -> None:
        check_int(self.version, "version")

    def member(self, member_id: str) -> MemberState | None:
        return next((m for m in self.members if m.id == member_id), None)

    @property
    def open_bids(self) -> tuple[Bid, ...]:
        return tuple(bid for bid in self.bids if bid.open)

    def to_map(self) -> WireMap:
        return {
            "version": self.version,
            "members": [member.to_map() for member in self.members],
            "bids": [bid.to_map() for bid in self.bids],
        }

    @classmethod
    def from_map(cls, m: WireMap) -> State:
        return cls(
            version=m.get("version"),  # type: ignore[arg-type]
            members=_items(get(m, "members", []), "members", MemberState.from_map),
            bids=_items(get(m, "bids", []), "bids", Bid.from_map),
        )


def _items(values: object, field: str, parse: Callable[[WireMap], T]) -> tuple[T, ...]:
    """Parse an array of maps, naming a bad item by its index (``bids[2].seq``)."""
    items = []
    for index, value in enumerate(sequence_field(values, field)):
        items.append(parse_map(value, f"{field}[{index}]", parse))
    return tuple(items)
