"""Objects built without checks (frozen.py) are the ones the checking constructors build."""

from __future__ import annotations

import gc
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from heartline_protocol import Bid, BidAck, Event, MemberState, MemberStatus, State, apply_event
from heartline_protocol.frozen import assemble, evolve

from .strategies import events


def test_evolve_is_the_constructor_with_the_changes_without_the_checks() -> None:
    member = MemberState("m_A", online=True, received=4)
    evolved = evolve(member, status=MemberStatus.SPACE, since=5, until=9, space_seq=3, note="n")
    assert evolved == MemberState(
        "m_A", MemberStatus.SPACE, 5, 9, "n", 3, online=True, received=4
    ), "a struct (msgspec) evolves"
    assert member == MemberState("m_A", online=True, received=4), "the original is unchanged"
    state = State(version=1, members=(member,))
    assert evolve(state, version=2) == replace(state, version=2), "a dataclass evolves"


def test_evolve_does_not_check_again() -> None:
    """The fold evolves only checked values; checking them again was most of its cost.
    (msgspec.structs.replace would run __post_init__, and so the checks.)"""
    bid = Bid(3, "check_in", "m_A", 7)
    unchecked = evolve(bid, member="not an id")
    assert unchecked.member == "not an id"
    assert bid.member == "m_A"


def test_assemble_is_the_constructor_with_its_defaults() -> None:
    assert assemble(State, version=3) == State(3)
    assert assemble(State, version=3, bids=(Bid(3, "check_in", "m_A", 7),)).members == ()


@given(st.lists(events, max_size=12))
def test_the_parts_of_a_folded_state_are_not_tracked_by_the_cycle_collector(
    stream: list[Event],
) -> None:
    state = State(version=0)
    for seq, event in enumerate(stream, start=1):
        state = apply_event(state, replace(event, seq=seq))
    parts = [*state.members, *state.bids, *(bid.ack for bid in state.bids if bid.ack)]
    assert not any(gc.is_tracked(part) for part in parts)
    assert not gc.is_tracked(BidAck(4, "m_B", 8, reply="heard"))


@given(st.lists(events, max_size=12))
def test_a_folded_state_is_one_the_checking_constructors_rebuild(stream: list[Event]) -> None:
    state = State(version=0)
    for seq, event in enumerate(stream, start=1):
        state = apply_event(state, replace(event, seq=seq))
    assert State.from_map(state.to_map()) == state
