"""Every frame of protocol v1 (SPEC.md 4).

A frame is one msgpack map with a ``type`` field. Each class here is one
frame type: immutable, validated on construction, with ``to_map`` and
``from_map`` for its wire form without the ``type`` key, which the codec adds
and reads. ``Event`` (events.py) is the ``event`` frame.

Client to hub: ``hello``, ``signal``, ``received``, ``sync``, ``ping``, ``pong``.
Hub to client: ``welcome``, ``result``, ``event``, ``snapshot``, ``error``,
``goaway``, ``ping``, ``pong``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .errors import ErrorCode, ProtocolError
from .events import Event
from .fields import check_bool, check_id, check_int, check_text, check_token, optional
from .limits import Limits
from .position import Position
from .signals import SIGNAL_KINDS, NeedSpace, SignalBody
from .state import State
from .wire import WireMap, compact, get, parse_map, parse_optional_map

__all__ = [
    "CLIENT_FRAMES",
    "HUB_FRAMES",
    "MAX_SYNC_LIMIT",
    "ClientFrame",
    "Error",
    "Frame",
    "Goaway",
    "Hello",
    "HubFrame",
    "Ping",
    "Pong",
    "Received",
    "Result",
    "Signal",
    "Snapshot",
    "Sync",
    "Welcome",
]

MAX_TOKEN_CHARS = 256
MAX_SYNC_LIMIT = 1000
MAX_MESSAGE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens a session: the device token and, to resume, the last position seen."""

    type: ClassVar[str] = "hello"
    token: str
    resume: Position | None = None
    agent: str | None = None

    def __post_init__(self) -> None:
        check_id(self.token, "token", max_chars=MAX_TOKEN_CHARS)
        optional(check_text, self.agent, "agent", max_chars=64)

    def __repr__(self) -> str:
        return f"Hello(token=<redacted>, resume={self.resume!r}, agent={self.agent!r})"

    def to_map(self) -> WireMap:
        resume = None if self.resume is None else self.resume.to_map()
        return compact(token=self.token, resume=resume, agent=self.agent)

    @classmethod
    def from_map(cls, m: WireMap) -> Hello:
        resume = parse_optional_map(m.get("resume"), "resume", Position.from_map)
        return cls(token=m.get("token"), resume=resume, agent=m.get("agent"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Welcome:
    """The hub accepted the hello: who is who, the snapshot, and the rules."""

    type: ClassVar[str] = "welcome"
    pair: str
    member: str
    device: str
    epoch: str
    server_time: int
    heartbeat_ms: int
    state: State
    limits: Limits
    partner: str | None = None
    resumed: bool = False
    history_lost: bool = False

    def __post_init__(self) -> None:
        for name in ("pair", "member", "device", "epoch"):
            check_id(getattr(self, name), name)
        optional(check_id, self.partner, "partner")
        check_int(self.server_time, "server_time")
        check_int(self.heartbeat_ms, "heartbeat_ms", lo=1)
        check_bool(self.resumed, "resumed")
        check_bool(self.history_lost, "history_lost")

    def to_map(self) -> WireMap:
        return compact(
            pair=self.pair,
            member=self.member,
            partner=self.partner,
            device=self.device,
            epoch=self.epoch,
            server_time=self.server_time,
            heartbeat_ms=self.heartbeat_ms,
            resumed=self.resumed,
            history_lost=self.history_lost,
            limits=self.limits.to_map(),
            state=self.state.to_map(),
        )

    @classmethod
    def from_map(cls, m: WireMap) -> Welcome:
        limits = parse_map(m.get("limits"), "limits", Limits.from_map)
        state = parse_map(m.get("state"), "state", State.from_map)
        return cls(
            pair=m.get("pair"),  # type: ignore[arg-type]
            member=m.get("member"),  # type: ignore[arg-type]
            partner=m.get("partner"),
            device=m.get("device"),  # type: ignore[arg-type]
            epoch=m.get("epoch"),  # type: ignore[arg-type]
            server_time=m.get("server_time"),  # type: ignore[arg-type]
            heartbeat_ms=m.get("heartbeat_ms"),  # type: ignore[arg-type]
            resumed=get(m, "resumed", False),
            history_lost=get(m, "history_lost", False),
            limits=limits,
            state=state,
        )


_SET_BY_HUB = "until"
"""The one signal field only the hub sets (need_space's end); ignored in a signal."""


@dataclass(frozen=True, slots=True)
class Signal:
    """A partner's signal, identified by the client message id ``id`` for idempotency."""

    type: ClassVar[str] = "signal"
    id: str
    body: SignalBody

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        if not isinstance(self.body, tuple(SIGNAL_KINDS.values())):
            raise TypeError(f"a signal body must be one of the v1 kinds, not {self.body!r}")
        if isinstance(self.body, NeedSpace) and self.body.until is not None:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, "until: set by the hub, not by a client", field="until"
            )

    @property
    def kind(self) -> str:
        return self.body.kind

    def to_map(self) -> WireMap:
        return {"id": self.id, "kind": self.kind} | self.body.to_map()

    @classmethod
    def from_map(cls, m: WireMap) -> Signal:
        kind = m.get("kind")
        body_class = SIGNAL_KINDS.get(kind) if type(kind) is str else None
        if body_class is None:
            check_token(kind, "kind")
            raise ProtocolError(
                ErrorCode.UNKNOWN_KIND, f"kind: unknown signal kind {kind!r}", field="kind"
            )
        if _SET_BY_HUB in m:
            m = {name: value for name, value in m.items() if name != _SET_BY_HUB}
        return cls(id=m.get("id"), body=body_class.from_map(m))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to a ``signal`` (the stored event) or a ``sync`` (how far it got)."""

    type: ClassVar[str] = "result"
    id: str
    event: Event | None = None
    last: int | None = None
    more: bool | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        optional(check_int, self.last, "last")
        optional(check_bool, self.more, "more")

    def to_map(self) -> WireMap:
        event = None if self.event is None else self.event.to_map()
        return compact(id=self.id, event=event, last=self.last, more=self.more)

    @classmethod
    def from_map(cls, m: WireMap) -> Result:
        event = parse_optional_map(m.get("event"), "event", Event.from_map)
        return cls(id=m.get("id"), event=event, last=m.get("last"), more=m.get("more"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Received:
    """The device has every event up to ``seq`` (a cumulative delivery receipt)."""

    type: ClassVar[str] = "received"
    seq: int

    def __post_init__(self) -> None:
        check_int(self.seq, "seq", lo=1)

    def to_map(self) -> WireMap:
        return {"seq": self.seq}

    @classmethod
    def from_map(cls, m: WireMap) -> Received:
        return cls(seq=m.get("seq"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Sync:
    """Asks for the events after ``after``, at most ``limit`` of them."""

    type: ClassVar[str] = "sync"
    id: str
    after: int
    limit: int | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_int(self.after, "after")
        optional(check_int, self.limit, "limit", lo=1, hi=MAX_SYNC_LIMIT)

    def to_map(self) -> WireMap:
        return compact(id=self.id, after=self.after, limit=self.limit)

    @classmethod
    def from_map(cls, m: WireMap) -> Sync:
        return cls(id=m.get("id"), after=m.get("after"), limit=m.get("limit"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole state, replacing what the client had; sent when history was lost."""

    type: ClassVar[str] = "snapshot"
    epoch: str
    state: State
    reason: str

    def __post_init__(self) -> None:
        check_id(self.epoch, "epoch")
        check_token(self.reason, "reason")

    def to_map(self) -> WireMap:
        return {"epoch": self.epoch, "reason": self.reason, "state": self.state.to_map()}

    @classmethod
    def from_map(cls, m: WireMap) -> Snapshot:
        state = parse_map(m.get("state"), "state", State.from_map)
        return cls(epoch=m.get("epoch"), reason=m.get("reason"), state=state)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Ping:
    """Keeps the connection alive; answered by ``pong`` echoing ``t``."""

    type: ClassVar[str] = "ping"
    t: int | None = None

    def __post_init__(self) -> None:
        optional(check_int, self.t, "t")

    def to_map(self) -> WireMap:
        return compact(t=self.t)

    @classmethod
    def from_map(cls, m: WireMap) -> Ping:
        return cls(t=m.get("t"))


@dataclass(frozen=True, slots=True)
class Pong:
    """Answers a ``ping``: ``t`` echoed, ``now`` the hub's clock (from the hub only)."""

    type: ClassVar[str] = "pong"
    t: int | None = None
    now: int | None = None

    def __post_init__(self) -> None:
        optional(check_int, self.t, "t")
        optional(check_int, self.now, "now")

    def to_map(self) -> WireMap:
        return compact(t=self.t, now=self.now)

    @classmethod
    def from_map(cls, m: WireMap) -> Pong:
        return cls(t=m.get("t"), now=m.get("now"))


@dataclass(frozen=True, slots=True)
class Goaway:
    """The hub is draining: reconnect (elsewhere), the close follows."""

    type: ClassVar[str] = "goaway"
    reason: str
    reconnect_in_ms: int | None = None

    def __post_init__(self) -> None:
        check_token(self.reason, "reason")
        optional(check_int, self.reconnect_in_ms, "reconnect_in_ms")

    def to_map(self) -> WireMap:
        return compact(reason=self.reason, reconnect_in_ms=self.reconnect_in_ms)

    @classmethod
    def from_map(cls, m: WireMap) -> Goaway:
        return cls(reason=m.get("reason"), reconnect_in_ms=m.get("reconnect_in_ms"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Error:
    """Something the client sent failed (SPEC.md 8): a stable code and a message.

    ``id`` names the offending request when it had a readable client message
    id, ``field`` the offending field, ``retry_after_ms`` when to try again
    for ``rate_limited`` and ``unavailable``.
    """

    type: ClassVar[str] = "error"
    code: str
    message: str
    id: str | None = None
    field: str | None = None
    retry_after_ms: int | None = None

    def __post_init__(self) -> None:
        check_token(self.code, "code")
        check_text(self.message, "message", max_chars=MAX_MESSAGE_CHARS)
        optional(check_id, self.id, "id")
        optional(check_text, self.field, "field", max_chars=128)
        optional(check_int, self.retry_after_ms, "retry_after_ms")

    @property
    def error_code(self) -> ErrorCode | None:
        """The code as the enum, or None for a code this version does not know."""
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None

    def to_map(self) -> WireMap:
        return compact(
            code=self.code,
            message=self.message,
            id=self.id,
            field=self.field,
            retry_after_ms=self.retry_after_ms,
        )

    @classmethod
    def from_map(cls, m: WireMap) -> Error:
        return cls(
            code=m.get("code"),  # type: ignore[arg-type]
            message=m.get("message"),  # type: ignore[arg-type]
            id=m.get("id"),
            field=m.get("field"),
            retry_after_ms=m.get("retry_after_ms"),
        )

    @classmethod
    def from_exception(cls, error: ProtocolError) -> Error:
        """The frame that tells a client why its frame was refused."""
        return cls(
            code=error.code,
            message=error.message,
            id=error.id,
            field=error.field,
            retry_after_ms=error.retry_after_ms,
        )


ClientFrame = Hello | Signal | Received | Sync | Ping | Pong
HubFrame = Welcome | Result | Event | Snapshot | Error | Goaway | Ping | Pong
Frame = ClientFrame | HubFrame

CLIENT_FRAMES: dict[str, type[ClientFrame]] = {
    frame.type: frame for frame in (Hello, Signal, Received, Sync, Ping, Pong)
}
HUB_FRAMES: dict[str, type[HubFrame]] = {
    frame.type: frame for frame in (Welcome, Result, Event, Snapshot, Error, Goaway, Ping, Pong)
}
