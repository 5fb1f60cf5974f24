"""Events: what the hub stored, in the pair's total order (SPEC.md 6).

Every event has the same envelope (sequence number, hub-assigned id, server
time, kind, member and device) and a body that depends on its kind: a signal
body for the partners' own signals, or one of the hub's own event bodies
below. A kind this version does not know decodes to :class:`UnknownEvent`, so
that a client can skip it (SPEC.md 9: clients ignore unknown event kinds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar, Self

from .errors import ErrorCode, ProtocolError
from .fields import check_bool, check_id, check_int, check_token, optional
from .signals import SIGNAL_KINDS, NeedSpace, SignalBody
from .wire import WireMap, compact

__all__ = [
    "EVENT_KINDS",
    "Delivered",
    "Event",
    "EventBody",
    "HubEventKind",
    "Joined",
    "Presence",
    "SpaceEnded",
    "SpaceEnding",
    "UnknownEvent",
    "WebhookDisabled",
]


class HubEventKind(enum.StrEnum):
    SPACE_ENDING = "space_ending"
    SPACE_ENDED = "space_ended"
    DELIVERED = "delivered"
    PRESENCE = "presence"
    JOINED = "joined"
    WEBHOOK_DISABLED = "webhook_disabled"


@dataclass(frozen=True, slots=True)
class _SpaceTimer:
    """A timer event of the space opened by the ``need_space`` at ``target``."""

    kind: ClassVar[str]
    target: int
    until: int

    def __post_init__(self) -> None:
        check_int(self.target, "target", lo=1)
        check_int(self.until, "until")

    def to_map(self) -> WireMap:
        return compact(target=self.target, until=self.until)

    @classmethod
    def from_map(cls, m: WireMap) -> Self:
        return cls(target=m.get("target"), until=m.get("until"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SpaceEnding(_SpaceTimer):
    """The space ends soon, at ``until``: a reminder for its owner to check in."""

    kind: ClassVar[str] = HubEventKind.SPACE_ENDING


@dataclass(frozen=True, slots=True)
class SpaceEnded(_SpaceTimer):
    """The space ended with no ``im_back``: a check-in is due."""

    kind: ClassVar[str] = HubEventKind.SPACE_ENDED


@dataclass(frozen=True, slots=True)
class Delivered:
    """A device of ``member`` has received every event up to ``through``."""

    kind: ClassVar[str] = HubEventKind.DELIVERED
    through: int

    def __post_init__(self) -> None:
        check_int(self.through, "through", lo=1)

    def to_map(self) -> WireMap:
        return compact(through=self.through)

    @classmethod
    def from_map(cls, m: WireMap) -> Delivered:
        return cls(through=m.get("through"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Presence:
    """``member`` came online (first device connected) or went offline (last left)."""

    kind: ClassVar[str] = HubEventKind.PRESENCE
    online: bool

    def __post_init__(self) -> None:
        check_bool(self.online, "online")

    def to_map(self) -> WireMap:
        return compact(online=self.online)

    @classmethod
    def from_map(cls, m: WireMap) -> Presence:
        return cls(online=m.get("online"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Joined:
    """``member`` joined the pair: created it, or accepted the invite."""

    kind: ClassVar[str] = HubEventKind.JOINED

    def to_map(self) -> WireMap:
        return {}

    @classmethod
    def from_map(cls, m: WireMap) -> Joined:
        del m
        return cls()


@dataclass(frozen=True, slots=True)
class WebhookDisabled:
    """The hub stopped delivering to ``member``'s webhook: its URL kept failing."""

    kind: ClassVar[str] = HubEventKind.WEBHOOK_DISABLED
    webhook: str

    def __post_init__(self) -> None:
        check_id(self.webhook, "webhook")

    def to_map(self) -> WireMap:
        return {"webhook": self.webhook}

    @classmethod
    def from_map(cls, m: WireMap) -> WebhookDisabled:
        return cls(webhook=m.get("webhook"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event kind from a newer hub; its fields are kept but not interpreted."""

    name: str
    fields: WireMap = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return self.name

    def to_map(self) -> WireMap:
        return dict(self.fields)


HubEventBody = SpaceEnding | SpaceEnded | Delivered | Presence | Joined | WebhookDisabled
EventBody = SignalBody | HubEventBody | UnknownEvent

EVENT_KINDS: dict[str, type[SignalBody | HubEventBody]] = {
    **SIGNAL_KINDS,
    **{
        body.kind: body
        for body in (SpaceEnding, SpaceEnded, Delivered, Presence, Joined, WebhookDisabled)
    },
}
"""Every event kind of protocol v1 to its body class."""

_ENVELOPE = frozenset({"type", "seq", "id", "at", "kind", "member", "device"})


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event of a pair (SPEC.md 6.1).

    ``member`` is who the event is about: the sender of a signal, the owner
    of a space for the timer events, the receiving member for ``delivered``.
    ``device`` is the device that caused it; the hub's own timer events have
    none.
    """

    type: ClassVar[str] = "event"
    seq: int
    id: str
    at: int
    member: str
    body: EventBody
    device: str | None = None

    def __post_init__(self) -> None:
        check_int(self.seq, "seq", lo=1)
        check_id(self.id, "id")
        check_int(self.at, "at")
        check_id(self.member, "member")
        optional(check_id, self.device, "device")
        if isinstance(self.body, NeedSpace) and self.body.until is None:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, "until: required in a need_space event", field="until"
            )

    @property
    def kind(self) -> str:
        return self.body.kind

    def to_map(self) -> WireMap:
        envelope = compact(
            seq=self.seq,
            id=self.id,
            at=self.at,
            kind=self.kind,
            member=self.member,
            device=self.device,
        )
        return envelope | self.body.to_map()

    @classmethod
    def from_map(cls, m: WireMap) -> Event:
        kind = check_token(m.get("kind"), "kind")
        body_class = EVENT_KINDS.get(kind)
        body: EventBody
        if body_class is None:
            extra = {name: value for name, value in m.items() if name not in _ENVELOPE}
            body = UnknownEvent(kind, extra)
        else:
            body = body_class.from_map(m)
        return cls(
            seq=m.get("seq"),  # type: ignore[arg-type]
            id=m.get("id"),  # type: ignore[arg-type]
            at=m.get("at"),  # type: ignore[arg-type]
            member=m.get("member"),  # type: ignore[arg-type]
            device=m.get("device"),
            body=body,
        )
