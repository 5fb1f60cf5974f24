"""The fold: how each event changes a pair's state (SPEC.md 6.3).

The hub folds every event it stores into the state it keeps, and a client
folds every event it receives into the state it shows, with this one
function, so both hold the same state at the same version.

The members, bids and states built here take every field from the state
and the event, which were checked when they were built, so they are built
without checking again (frozen.py).
"""

from __future__ import annotations

from collections.abc import Callable

from .events import Delivered, Event, Presence, SpaceEnded
from .frozen import assemble, evolve
from .signals import Ack, CheckIn, FeelingDisconnected, ImBack, NeedSpace
from .state import Bid, BidAck, MemberState, State, next_status

__all__ = ["KEEP_ACKNOWLEDGED", "apply_event"]

KEEP_ACKNOWLEDGED = 10
"""Acknowledged bids kept in the state (the most recent ones); open bids are all kept."""


def apply_event(state: State, event: Event) -> State:
    """The state after ``event``; events at or below ``state.version`` change nothing."""
    if event.seq <= state.version:
        return state
    return assemble(
        State,
        version=event.seq,
        members=_fold_members(state.members, event),
        bids=_fold_bids(state.bids, event),
    )


def _fold_members(members: tuple[MemberState, ...], event: Event) -> tuple[MemberState, ...]:
    """The member the event is about changes; one not yet in the state joins it."""
    index = next((i for i, m in enumerate(members) if m.id == event.member), len(members))
    current = members[index] if index < len(members) else _newcomer(event.member)
    updated = _fold_member(current, event)
    if index == len(members):
        return (*members, updated)
    if updated is current:
        return members
    return (*members[:index], updated, *members[index + 1 :])


def _newcomer(member_id: str) -> MemberState:
    return evolve(_NEWCOMER, id=member_id)


def _fold_member(member: MemberState, event: Event) -> MemberState:
    fold = _MEMBER_FOLDS.get(type(event.body))
    return member if fold is None else fold(member, event)


def _start_space(member: MemberState, event: Event) -> MemberState:
    body = event.body
    assert isinstance(body, NeedSpace)
    return evolve(
        member,
        status=next_status(member.status, event.kind),
        since=event.at,
        until=body.until,
        note=body.note,
        space_seq=event.seq,
    )


def _come_back(member: MemberState, event: Event) -> MemberState:
    status = next_status(member.status, event.kind)
    return evolve(member, status=status, since=event.at, until=None, note=None, space_seq=None)


def _end_space(member: MemberState, event: Event) -> MemberState:
    body = event.body
    assert isinstance(body, SpaceEnded)
    if member.space_seq != body.target:
        return member
    return evolve(member, status=next_status(member.status, event.kind), since=event.at)


def _confirm_receipt(member: MemberState, event: Event) -> MemberState:
    body = event.body
    assert isinstance(body, Delivered)
    return evolve(member, received=max(member.received, body.through))


def _see_presence(member: MemberState, event: Event) -> MemberState:
    body = event.body
    assert isinstance(body, Presence)
    return evolve(member, online=body.online, last_seen=event.at)


_MEMBER_FOLDS: dict[type, Callable[[MemberState, Event], MemberState]] = {
    NeedSpace: _start_space,
    ImBack: _come_back,
    SpaceEnded: _end_space,
    Delivered: _confirm_receipt,
    Presence: _see_presence,
}
"""How an event changes the member it is about; kinds not listed leave the member as is."""

_NEWCOMER = MemberState("newcomer")
"""A member's state before their first event; copied with the member's id."""


_BLANK_BID = Bid(seq=1, kind="check_in", member="m_blank", at=0)
_BLANK_ACK = BidAck(seq=1, member="m_blank", at=0)
"""Checked bids to copy every field of a new one onto (frozen.py: structs are evolved)."""


def _fold_bids(bids: tuple[Bid, ...], event: Event) -> tuple[Bid, ...]:
    body = event.body
    if isinstance(body, FeelingDisconnected | CheckIn):
        wish = body.wish if isinstance(body, FeelingDisconnected) else None
        bid = evolve(
            _BLANK_BID,
            seq=event.seq,
            kind=body.kind,
            member=event.member,
            at=event.at,
            note=body.note,
            wish=wish,
        )
        return (*bids, bid)
    if isinstance(body, Ack):
        ack = evolve(_BLANK_ACK, seq=event.seq, member=event.member, at=event.at, reply=body.reply)
        heard = tuple(_hear(bid, event.member, body.target, ack) for bid in bids)
        return _drop_old_acknowledged(heard)
    return bids


def _hear(bid: Bid, listener: str, target: int, ack: BidAck) -> Bid:
    """An ack hears the partner's open bid at ``target`` and every earlier one."""
    if bid.open and bid.member != listener and bid.seq <= target:
        return evolve(bid, ack=ack)
    return bid


def _drop_old_acknowledged(bids: tuple[Bid, ...]) -> tuple[Bid, ...]:
    acks = sorted((bid.ack.seq, bid.seq) for bid in bids if bid.ack is not None)
    dropped = {bid_seq for _, bid_seq in acks[:-KEEP_ACKNOWLEDGED]}
    return tuple(bid for bid in bids if bid.seq not in dropped)
