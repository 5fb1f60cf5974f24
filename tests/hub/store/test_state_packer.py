"""Packing states for appends from the kept bytes of their parts (store/state_packer.py)."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from heartline_hub.store.state_packer import StatePacker
from heartline_protocol import Event, Joined, MemberState, State, apply_event
from tests.protocol.strategies import events, states


def packed_whole(state: State) -> bytes:
    return msgpack.packb(state.to_map(), use_bin_type=True)  # type: ignore[no-any-return]


@settings(max_examples=100, deadline=None)
@given(state=states)
def test_a_state_packs_to_the_bytes_of_its_whole_map(state: State) -> None:
    packer = StatePacker()
    assert packer.pack("p1", state) == packed_whole(state)
    assert packer.pack("p1", state) == packed_whole(state)


@settings(max_examples=50, deadline=None)
@given(state=states, later=st.lists(events, max_size=12))
def test_each_state_of_a_fold_packs_as_a_whole_though_its_parts_are_kept(
    state: State, later: list[Event]
) -> None:
    packer = StatePacker()
    state = State(state.version % 1_000_000, state.members, state.bids)
    for seq, event in enumerate(later, start=state.version + 1):
        state = apply_event(state, Event(seq, event.id, event.at, event.member, event.body))
        assert packer.pack("p1", state) == packed_whole(state)


@settings(max_examples=50, deadline=None)
@given(first=states, second=states)
def test_pairs_packed_in_turn_keep_their_own_parts(first: State, second: State) -> None:
    packer = StatePacker()
    for _ in range(2):
        assert packer.pack("p1", first) == packed_whole(first)
        assert packer.pack("p2", second) == packed_whole(second)


def test_only_the_most_recently_packed_pairs_are_kept() -> None:
    packer = StatePacker(pairs=3)
    state = State(version=0)
    for seq in range(1, 12):
        state = apply_event(state, Event(seq, f"e-{seq}", seq, f"m_{seq}", Joined()))
        assert packer.pack(f"p{seq}", state) == packed_whole(state)
        assert packer.kept_pairs == min(seq, 3)


def test_a_part_freed_elsewhere_cannot_lend_its_id_to_a_new_part() -> None:
    """The kept entry holds the state packed last: were it to hold only bytes by id(),
    the next state's part would often sit where the freed one was, with its id."""
    packer = StatePacker()
    for n in range(50):
        state = State(version=n, members=(MemberState(f"m_{n}", note=f"note {n}"),))
        assert packer.pack("p1", state) == packed_whole(state)
        del state
