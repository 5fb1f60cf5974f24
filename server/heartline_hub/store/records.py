"""What the store keeps besides events: devices, tokens, and the pair's stored state.

Records are frozen dataclasses with a msgpack form; the store is the only
place that reads or writes that form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack

from heartline_protocol import State

__all__ = [
    "AppendOutcome",
    "Appended",
    "ClaimedTimers",
    "DeviceKind",
    "DeviceRecord",
    "Duplicate",
    "Gone",
    "PairSnapshot",
    "Scope",
    "Stale",
    "TokenRecord",
    "WebhookRecord",
]


class Scope(enum.StrEnum):
    """What a device token may do (SPEC.md 5.6)."""

    FULL = "full"
    SIGNAL = "signal"
    READ = "read"

    @property
    def may_signal(self) -> bool:
        return self is not Scope.READ

    @property
    def may_manage(self) -> bool:
        """Add and revoke devices, unpair."""
        return self is Scope.FULL


class DeviceKind(enum.StrEnum):
    PHONE = "phone"
    WATCH = "watch"
    WIDGET = "widget"
    WEB = "web"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    member: str
    kind: DeviceKind
    scope: Scope
    token_hash: str
    created: int
    name: str | None = None

    def pack(self) -> bytes:
        return _pack(
            {
                "member": self.member,
                "kind": self.kind.value,
                "scope": self.scope.value,
                "token_hash": self.token_hash,
                "created": self.created,
                "name": self.name,
            }
        )

    @classmethod
    def unpack(cls, device_id: str, data: bytes) -> DeviceRecord:
        m = _unpack(data)
        return cls(
            id=device_id,
            member=m["member"],
            kind=DeviceKind(m["kind"]),
            scope=Scope(m["scope"]),
            token_hash=m["token_hash"],
            created=m["created"],
            name=m.get("name"),
        )


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """Who a token speaks for: looked up on every hello and HTTP request."""

    pair: str
    member: str
    device: str
    scope: Scope

    def pack(self) -> bytes:
        return _pack(
            {"pair": self.pair, "member": self.member, "device": self.device, "scope": self.scope}
        )

    @classmethod
    def unpack(cls, data: bytes) -> TokenRecord:
        m = _unpack(data)
        return cls(pair=m["pair"], member=m["member"], device=m["device"], scope=Scope(m["scope"]))


@dataclass(frozen=True, slots=True)
class PairSnapshot:
    """The stored state of a pair and the bookkeeping stored beside it."""

    version: int
    epoch: str
    first_seq: int
    state: State
    state_version: int
    """The version of the state as last written whole to the store (``base_v``): at most
    ``STATE_WRITTEN_EVERY - 1`` events behind ``version``; the log holds the rest."""
    online_rev: int = 0
    marks: dict[str, int] = field(default_factory=dict)
    """Bookkeeping beside the state: ``signal:<member>`` (the member's latest
    signal) and ``ending:<member>`` (the space whose ``space_ending`` fired)."""


class ClaimedTimers(NamedTuple):
    """What one look at the timer shards claimed, and when to look again."""

    claimed: list[list[str]]
    """Each shard's claimed timers, in the order the shards were asked for."""
    next_due: int | None
    """When the earliest timer left in those shards is due (ms); None if they are empty."""


class OnlineChange(NamedTuple):
    """A pair as a change of its online hash found it, read in the same step."""

    online_rev: int
    version: int
    member_online: bool
    """Whether the changed connection's member still has a connection, on any hub."""


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    published: bool = True
    """False when append.lua found no listener but the calling hub, and published nothing."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The client message id was stored before: its record (digest + event frame)."""

    record: bytes


@dataclass(frozen=True, slots=True)
class Stale:
    """Someone stored first (or presence changed): load again, fold again, retry."""


@dataclass(frozen=True, slots=True)
class Gone:
    """The pair no longer exists (unpaired)."""


AppendOutcome = Appended | Duplicate | Stale | Gone


def _pack(value: dict[str, Any]) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _unpack(data: bytes) -> dict[str, Any]:
    return msgpack.unpackb(data, raw=False)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A URL a member registered for the pair's events (webhooks.py)."""

    id: str
    member: str
    url: str
    secret: str
    """Signs each delivery (HMAC-SHA256); kept as is, since the hub must sign with it."""
    include_notes: bool
    created: int
    disabled: str | None = None
    """Why deliveries stopped (it kept failing), or None while it is active."""

    def pack(self) -> bytes:
        return _pack(
            {
                "member": self.member,
                "url": self.url,
                "secret": self.secret,
                "include_notes": self.include_notes,
                "created": self.created,
                "disabled": self.disabled,
            }
        )

    @classmethod
    def unpack(cls, webhook_id: str, data: bytes) -> WebhookRecord:
        m = _unpack(data)
        return cls(
            id=webhook_id,
            member=m["member"],
            url=m["url"],
            secret=m["secret"],
            include_notes=m["include_notes"],
            created=m["created"],
            disabled=m.get("disabled"),
        )
