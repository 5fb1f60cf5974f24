"""What to record, decided from a pair's current snapshot (SPEC.md 5 and 6.2).

Pure functions: each returns a ``decide(snapshot, now)`` for the journal,
which calls it again on a fresh snapshot when another hub stored first. A
decision of None records nothing (the timer was cancelled, presence is
already right); a :class:`ProtocolError` refuses the request.
"""

from __future__ import annotations

from dataclasses import replace

from heartline_protocol import (
    Ack,
    Delivered,
    ErrorCode,
    Joined,
    MemberStatus,
    NeedSpace,
    Presence,
    ProtocolError,
    SignalBody,
    SpaceEnded,
    SpaceEnding,
    State,
    WebhookDisabled,
)

from .journal import Decide, Decision
from .store import PairSnapshot

__all__ = [
    "joined",
    "partner_of",
    "presence",
    "receipt",
    "signal",
    "space_ended",
    "space_ending",
    "webhook_disabled",
]


def partner_of(state: State, member: str) -> str | None:
    return next((m.id for m in state.members if m.id != member), None)


def signal(member: str, device: str, body: SignalBody) -> Decide:
    """A partner's signal; an ack must hear an open bid.

    A need_space keeps the ``until`` its timers were scheduled for; one
    without gets its end from ``now``.
    """

    def decide(snapshot: PairSnapshot, now: int) -> Decision:
        if isinstance(body, NeedSpace) and body.until is None:
            stamped: SignalBody = replace(body, until=now + body.duration * 1000)
            return Decision(member, stamped, device)
        if isinstance(body, Ack):
            _check_ack(snapshot.state, member, body)
        return Decision(member, body, device)

    return decide


def _check_ack(state: State, member: str, ack: Ack) -> None:
    bid = next((bid for bid in state.bids if bid.seq == ack.target), None)
    if bid is None or bid.member == member:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"target: {ack.target} is not a bid or check-in of your partner",
            field="target",
        )
    if not bid.open:
        raise ProtocolError(
            ErrorCode.CONFLICT, f"target: {ack.target} was already acknowledged", field="target"
        )


def receipt(member: str, device: str, through: int) -> Decide:
    """``delivered`` when a receipt first covers the partner's latest signal."""

    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del now
        partner = partner_of(snapshot.state, member)
        me = snapshot.state.member(member)
        if partner is None or me is None:
            return None
        latest = snapshot.marks.get(f"signal:{partner}", 0)
        if not me.received < latest <= through:
            return None
        return Decision(member, Delivered(through=min(through, snapshot.version)), device)

    return decide


def joined(member: str, device: str) -> Decide:
    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del now
        if snapshot.state.member(member) is not None:
            return None
        return Decision(member, Joined(), device)

    return decide


def webhook_disabled(member: str, webhook_id: str) -> Decide:
    """Tell ``member``'s devices that the hub stopped delivering to their webhook."""

    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del snapshot, now
        return Decision(member, WebhookDisabled(webhook=webhook_id))

    return decide


def presence(member: str, device: str | None, online: bool) -> Decide:
    """``presence`` only when the member's online status really changes."""

    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del now
        current = snapshot.state.member(member)
        if current is None or current.online == online:
            return None
        return Decision(member, Presence(online=online), device)

    return decide


def _space(snapshot: PairSnapshot, member: str, until: int) -> int | None:
    """The ``need_space`` seq of the member's space ending at ``until``, if still open."""
    current = snapshot.state.member(member)
    if current is None or current.status is not MemberStatus.SPACE or current.until != until:
        return None
    return current.space_seq


def space_ending(member: str, until: int) -> Decide:
    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del now
        target = _space(snapshot, member, until)
        if target is None or snapshot.marks.get(f"ending:{member}") == target:
            return None
        return Decision(member, SpaceEnding(target=target, until=until))

    return decide


def space_ended(member: str, until: int) -> Decide:
    def decide(snapshot: PairSnapshot, now: int) -> Decision | None:
        del now
        target = _space(snapshot, member, until)
        if target is None:
            return None
        return Decision(member, SpaceEnded(target=target, until=until))

    return decide
