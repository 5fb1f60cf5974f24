"""The device's copy of the state: each event once, and the hub's clock."""

from __future__ import annotations

from heartline.state import Clock, SharedState
from heartline_protocol import CheckIn, Event, Joined, Limits, NeedSpace, State, Welcome


def welcome(version: int = 0) -> Welcome:
    return Welcome(
        pair="p",
        member="m_A",
        partner=None,
        device="d",
        epoch="e1",
        server_time=1_000_000,
        heartbeat_ms=25_000,
        state=State(version=version),
        limits=Limits(),
    )


def event(seq: int, member: str, body: object) -> Event:
    return Event(seq=seq, id=f"e1.{seq}", at=1_000_000 + seq, member=member, body=body)  # type: ignore[arg-type]


def test_events_are_accepted_once_and_in_order() -> None:
    shared = SharedState.from_welcome(welcome())
    assert shared.accept(event(1, "m_A", Joined()))
    assert shared.accept(event(2, "m_B", Joined()))
    assert not shared.accept(event(2, "m_B", Joined()))
    assert not shared.accept(event(1, "m_A", Joined()))
    assert shared.position.seq == 2
    assert shared.partner == "m_B"
    assert shared.accept(event(3, "m_B", CheckIn(note="hi")))
    assert shared.state.open_bids[0].note == "hi"


def test_a_resumed_welcome_keeps_the_position_until_the_replay_arrives() -> None:
    shared = SharedState.from_welcome(welcome())
    shared.accept(event(1, "m_A", Joined()))
    later = State(version=3)
    shared.replace(welcome(3), later, keep_position=True)
    assert shared.position.seq == 1
    assert shared.accept(event(2, "m_B", Joined()))
    assert shared.state is later, "already folded into the newer state"
    shared.replace("e2", State(version=9), keep_position=False)
    assert (shared.position.seq, shared.epoch) == (9, "e2")


def test_the_clock_keeps_the_sample_with_the_shortest_round_trip() -> None:
    clock = Clock()
    clock.sample(sent_ms=1000, server_ms=6000, received_ms=1100)
    assert clock.offset_ms == 4950
    clock.sample(sent_ms=2000, server_ms=7010, received_ms=2020)
    assert clock.offset_ms == 5000
    clock.sample(sent_ms=3000, server_ms=9999, received_ms=3500)
    assert clock.offset_ms == 5000


def test_seconds_left_counts_down_by_the_hubs_clock() -> None:
    shared = SharedState.from_welcome(welcome())
    now = shared.clock.server_now_ms()
    shared.accept(event(1, "m_B", NeedSpace(duration=600, until=int(now) + 600_000)))
    left = shared.seconds_left("m_B")
    assert left is not None
    assert 598 < left <= 600
    assert shared.seconds_left("m_A") is None


def test_a_clock_behind_the_hubs_never_counts_down_from_above_the_spaces_length() -> None:
    shared = SharedState.from_welcome(welcome())
    at = int(shared.clock.server_now_ms()) + 50  # stamped by a hub 50 ms ahead of the estimate
    space = NeedSpace(duration=600, until=at + 600_000)
    shared.accept(Event(seq=1, id="e1.1", at=at, member="m_B", body=space))

    assert shared.seconds_left("m_B") == 600.0
