"""The signal vocabulary of protocol v1 (SPEC.md 5).

A signal is what a partner says: each kind is a frozen dataclass holding the
fields that kind carries. The same classes are the bodies of the events the
hub stores for them (SPEC.md 6), where ``NeedSpace`` also carries the
hub-computed ``until``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Self

from .fields import check_int, check_text, check_token, optional
from .wire import WireMap, compact

__all__ = [
    "SIGNAL_KINDS",
    "Ack",
    "CheckIn",
    "FeelingDisconnected",
    "ImBack",
    "NeedSpace",
    "SignalBody",
    "SignalKind",
    "Wish",
]


class SignalKind(enum.StrEnum):
    NEED_SPACE = "need_space"
    IM_BACK = "im_back"
    FEELING_DISCONNECTED = "feeling_disconnected"
    CHECK_IN = "check_in"
    ACK = "ack"


class Wish(enum.StrEnum):
    """Wishes every v1 client knows how to show; others are allowed (SPEC.md 5.3)."""

    QUALITY_TIME = "quality_time"
    TALK = "talk"
    HUG = "hug"
    WALK = "walk"
    PLAY = "play"


@dataclass(frozen=True, slots=True)
class NeedSpace:
    """The signal "I need space for ``duration`` seconds, and I will come back".

    ``until`` (server time in ms) is set by the hub in the stored event; a
    client never sends it.
    """

    kind: ClassVar[str] = SignalKind.NEED_SPACE
    duration: int
    note: str | None = None
    until: int | None = None

    def __post_init__(self) -> None:
        check_int(self.duration, "duration", lo=1)
        optional(check_text, self.note, "note")
        optional(check_int, self.until, "until")

    def to_map(self) -> WireMap:
        return compact(duration=self.duration, note=self.note, until=self.until)

    @classmethod
    def from_map(cls, m: WireMap) -> NeedSpace:
        return cls(duration=m.get("duration"), note=m.get("note"), until=m.get("until"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _NoteOnly:
    """A signal whose only field is an optional note."""

    kind: ClassVar[str]
    note: str | None = None

    def __post_init__(self) -> None:
        optional(check_text, self.note, "note")

    def to_map(self) -> WireMap:
        return compact(note=self.note)

    @classmethod
    def from_map(cls, m: WireMap) -> Self:
        return cls(note=m.get("note"))


@dataclass(frozen=True, slots=True)
class ImBack(_NoteOnly):
    """The signal "I'm back": it ends the sender's space or check-in due."""

    kind: ClassVar[str] = SignalKind.IM_BACK


@dataclass(frozen=True, slots=True)
class FeelingDisconnected:
    """A bid for connection; it stays open until the partner acknowledges it."""

    kind: ClassVar[str] = SignalKind.FEELING_DISCONNECTED
    note: str | None = None
    wish: str | None = None

    def __post_init__(self) -> None:
        optional(check_text, self.note, "note")
        optional(check_token, self.wish, "wish")

    def to_map(self) -> WireMap:
        return compact(note=self.note, wish=self.wish)

    @classmethod
    def from_map(cls, m: WireMap) -> FeelingDisconnected:
        return cls(note=m.get("note"), wish=m.get("wish"))


@dataclass(frozen=True, slots=True)
class CheckIn(_NoteOnly):
    """The signal "Thinking of you, how are you?": open until acknowledged."""

    kind: ClassVar[str] = SignalKind.CHECK_IN


@dataclass(frozen=True, slots=True)
class Ack:
    """The signal "I hear you": it acknowledges the partner's bid or check-in at ``target``."""

    kind: ClassVar[str] = SignalKind.ACK
    target: int
    reply: str | None = None

    def __post_init__(self) -> None:
        check_int(self.target, "target", lo=1)
        optional(check_text, self.reply, "reply")

    def to_map(self) -> WireMap:
        return compact(target=self.target, reply=self.reply)

    @classmethod
    def from_map(cls, m: WireMap) -> Ack:
        return cls(target=m.get("target"), reply=m.get("reply"))  # type: ignore[arg-type]


SignalBody = NeedSpace | ImBack | FeelingDisconnected | CheckIn | Ack

SIGNAL_KINDS: dict[str, type[SignalBody]] = {
    body.kind: body for body in (NeedSpace, ImBack, FeelingDisconnected, CheckIn, Ack)
}
"""Signal kind name to its body class."""
