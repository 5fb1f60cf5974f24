"""The shared state as this device knows it, kept current from events (SPEC.md 6.3, 7).

The state is replaced whole by a ``welcome`` or a ``snapshot`` and advanced
by each event with the protocol's own :func:`apply_event`, so it matches
the hub's. The position (last sequence number and epoch) decides which
events are new: an event at or below it was already delivered and is
dropped, so the application never sees an event twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from heartline_protocol import (
    Event,
    MemberState,
    MemberStatus,
    Position,
    State,
    Welcome,
    apply_event,
)

__all__ = ["Clock", "SharedState"]


def _local_ms() -> float:
    return time.time() * 1000


@dataclass
class Clock:
    """The hub's clock as seen from here: an offset estimated from ping/pong (SPEC.md 4.9).

    The sample with the shortest round trip is the most accurate, so it wins.
    """

    offset_ms: float = 0.0
    _best_round_trip_ms: float = float("inf")

    def sample(self, sent_ms: float, server_ms: int, received_ms: float) -> None:
        round_trip = received_ms - sent_ms
        if 0 <= round_trip <= self._best_round_trip_ms:
            self._best_round_trip_ms = round_trip
            self.offset_ms = server_ms - (sent_ms + received_ms) / 2

    def set_from_welcome(self, server_time: int, received_ms: float) -> None:
        if self._best_round_trip_ms == float("inf"):
            self.offset_ms = server_time - received_ms

    def server_now_ms(self) -> float:
        return _local_ms() + self.offset_ms


@dataclass
class SharedState:
    """What the device knows of its pair: who is who, the state, and its position."""

    member: str
    partner: str | None
    epoch: str
    state: State
    delivered_seq: int = 0
    """The last event handed to the application; the resume position."""
    clock: Clock = field(default_factory=Clock)

    @classmethod
    def from_welcome(cls, welcome: Welcome) -> SharedState:
        shared = cls(welcome.member, welcome.partner, welcome.epoch, welcome.state)
        shared.delivered_seq = welcome.state.version
        shared.clock.set_from_welcome(welcome.server_time, _local_ms())
        return shared

    @property
    def position(self) -> Position:
        return Position(self.delivered_seq, self.epoch)

    def accept(self, event: Event) -> bool:
        """Fold a received event in; True if it is new to the application."""
        if event.seq <= self.delivered_seq:
            return False
        self.state = apply_event(self.state, event)
        self.delivered_seq = event.seq
        if self.partner is None and event.member != self.member:
            self.partner = event.member
        return True

    def replace(
        self, welcome_or_epoch: Welcome | str, state: State, *, keep_position: bool
    ) -> None:
        """A new whole state: from a welcome on reconnect, or a snapshot after lost history."""
        if isinstance(welcome_or_epoch, Welcome):
            self.partner = welcome_or_epoch.partner
            self.epoch = welcome_or_epoch.epoch
            self.clock.set_from_welcome(welcome_or_epoch.server_time, _local_ms())
        else:
            self.epoch = welcome_or_epoch
        self.state = state
        if not keep_position:
            self.delivered_seq = state.version

    def me(self) -> MemberState | None:
        return self.state.member(self.member)

    def partner_state(self) -> MemberState | None:
        return None if self.partner is None else self.state.member(self.partner)

    def seconds_left(self, member: str | None = None) -> float | None:
        """Seconds until ``member``'s space ends by the hub's clock; None if not in space.

        Never more than from ``since`` (a time the hub has passed) to ``until``: the
        estimate of the hub's clock can run a little behind it, and a countdown that
        starts above the space's length reads as a bug."""
        who = self.state.member(member or self.partner or self.member)
        if who is None or who.status is not MemberStatus.SPACE or who.until is None:
            return None
        left_ms = who.until - self.clock.server_now_ms()
        if who.since is not None:
            left_ms = min(left_ms, who.until - who.since)
        return max(0.0, left_ms / 1000)
