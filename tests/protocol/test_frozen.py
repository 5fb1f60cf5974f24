"""Objects built without checks (frozen.py) are the ones the checking constructors build."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from heartline_protocol import Bid, BidAck, Event, MemberState, MemberStatus, State, apply_event
from heartline_protocol.frozen import assemble, evolve

from .strategies import events


def test_evolve_is_replace_without_the_checks() -> None:
    member = MemberState("m_A", online=True, received=4)
    evolved = evolve(member, status=MemberStatus.SPACE, since=5, until=9, space_seq=3, note="n")
    assert evolved == replace(
        member, status=MemberStatus.SPACE, since=5, until=9, space_seq=3, note="n"
    )
    assert member == MemberState("m_A", online=True, received=4), "the original is unchanged"


def test_assemble_is_the_constructor_with_its_defaults() -> None:
    assert assemble(Bid, seq=3, kind="check_in", member="m_A", at=7) == Bid(3, "check_in", "m_A", 7)
    ack = assemble(BidAck, seq=4, member="m_B", at=8, reply="heard")
    assert ack == BidAck(4, "m_B", 8, reply="heard")


@given(st.lists(events, max_size=12))
def test_a_folded_state_is_one_the_checking_constructors_rebuild(stream: list[Event]) -> None:
    state = State(version=0)
    for seq, event in enumerate(stream, start=1):
        state = apply_event(state, replace(event, seq=seq))
    assert State.from_map(state.to_map()) == state
