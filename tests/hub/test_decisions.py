"""What the hub decides to record, from a pair's snapshot (server/heartline_hub/decisions.py).

Pure unit tests: every snapshot is built by hand, so each rule is shown on the
smallest state that exercises it. A and B are the two partners.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from heartline_hub import decisions
from heartline_hub.journal import Decide, Decision
from heartline_hub.store import PairSnapshot
from heartline_protocol import (
    Ack,
    Bid,
    BidAck,
    CheckIn,
    Delivered,
    ErrorCode,
    FeelingDisconnected,
    ImBack,
    Joined,
    MemberState,
    MemberStatus,
    NeedSpace,
    Presence,
    ProtocolError,
    SpaceEnded,
    SpaceEnding,
    State,
)

A, B = "m_A", "m_B"
A_PHONE, B_PHONE = "d_A1", "d_B1"
NOW = 1_764_000_000_000
UNTIL = NOW + 1_800_000


def snapshot(
    *members: MemberState,
    bids: tuple[Bid, ...] = (),
    version: int = 10,
    marks: dict[str, int] | None = None,
) -> PairSnapshot:
    return PairSnapshot(
        version=version,
        epoch="ep_test",
        first_seq=1,
        state=State(version=version, members=members, bids=bids),
        state_version=version,
        marks=marks or {},
    )


def in_space(member: str, *, until: int = UNTIL, space_seq: int = 4) -> MemberState:
    return MemberState(
        member, MemberStatus.SPACE, since=NOW - 60_000, until=until, space_seq=space_seq
    )


def bid(seq: int, member: str, *, acked_by: str | None = None) -> Bid:
    ack = None if acked_by is None else BidAck(seq=seq + 1, member=acked_by, at=NOW)
    return Bid(seq=seq, kind="feeling_disconnected", member=member, at=NOW - 1000, ack=ack)


# Signals and acks.


def test_a_need_space_gets_its_end_from_now() -> None:
    decide = decisions.signal(A, A_PHONE, NeedSpace(duration=1800, note="a walk"))
    decision = decide(snapshot(MemberState(A), MemberState(B)), NOW)
    assert decision == Decision(A, NeedSpace(duration=1800, note="a walk", until=UNTIL), A_PHONE)


def test_a_need_space_keeps_the_end_its_timers_were_scheduled_for() -> None:
    body = NeedSpace(duration=1800, until=UNTIL)
    decision = decisions.signal(A, A_PHONE, body)(snapshot(MemberState(A)), NOW + 5_000)
    assert decision == Decision(A, body, A_PHONE)


@pytest.mark.parametrize("body", [ImBack(), FeelingDisconnected(wish="hug"), CheckIn(note="hi")])
def test_other_signals_are_recorded_as_sent(
    body: ImBack | FeelingDisconnected | CheckIn,
) -> None:
    decision = decisions.signal(A, A_PHONE, body)(snapshot(MemberState(A), MemberState(B)), NOW)
    assert decision == Decision(A, body, A_PHONE)


def test_hearing_the_partners_open_bid_is_recorded() -> None:
    state = snapshot(MemberState(A), MemberState(B), bids=(bid(7, B),))
    ack = Ack(target=7, reply="I hear you")
    assert decisions.signal(A, A_PHONE, ack)(state, NOW) == Decision(A, ack, A_PHONE)


def test_acknowledging_ones_own_bid_is_not_found() -> None:
    state = snapshot(MemberState(A), MemberState(B), bids=(bid(7, A),))
    with pytest.raises(ProtocolError) as refused:
        decisions.signal(A, A_PHONE, Ack(target=7))(state, NOW)
    assert refused.value.code is ErrorCode.NOT_FOUND
    assert refused.value.field == "target"


@pytest.mark.parametrize("target", [3, 8, 99], ids=["not-a-bid", "next-to-a-bid", "future"])
def test_acknowledging_a_bid_that_is_not_there_is_not_found(target: int) -> None:
    state = snapshot(MemberState(A), in_space(B, space_seq=3), bids=(bid(7, B),))
    with pytest.raises(ProtocolError) as refused:
        decisions.signal(A, A_PHONE, Ack(target=target))(state, NOW)
    assert refused.value.code is ErrorCode.NOT_FOUND


def test_acknowledging_a_bid_already_heard_is_a_conflict() -> None:
    state = snapshot(MemberState(A), MemberState(B), bids=(bid(7, B, acked_by=A),))
    with pytest.raises(ProtocolError) as refused:
        decisions.signal(A, A_PHONE, Ack(target=7))(state, NOW)
    assert refused.value.code is ErrorCode.CONFLICT
    assert refused.value.field == "target"


# Receipts become "delivered".


def received_through(seq: int, *, a_received: int, b_latest_signal: int | None) -> Decision | None:
    marks = {} if b_latest_signal is None else {f"signal:{B}": b_latest_signal}
    state = snapshot(MemberState(A, received=a_received), MemberState(B), marks=marks)
    return decisions.receipt(A, A_PHONE, seq)(state, NOW)


def test_a_receipt_that_first_covers_the_partners_latest_signal_is_delivered() -> None:
    decision = received_through(9, a_received=4, b_latest_signal=8)
    assert decision == Decision(A, Delivered(through=9), A_PHONE)


def test_a_receipt_exactly_at_the_partners_latest_signal_is_delivered() -> None:
    assert received_through(8, a_received=7, b_latest_signal=8) == Decision(
        A, Delivered(through=8), A_PHONE
    )


def test_a_receipt_of_a_signal_already_confirmed_records_nothing() -> None:
    assert received_through(10, a_received=8, b_latest_signal=8) is None


def test_a_receipt_that_stops_before_the_partners_latest_signal_records_nothing() -> None:
    assert received_through(7, a_received=7, b_latest_signal=8) is None


def test_a_receipt_when_the_partner_never_signalled_records_nothing() -> None:
    assert received_through(9, a_received=0, b_latest_signal=None) is None


def test_a_receipt_before_the_partner_joined_records_nothing() -> None:
    state = snapshot(MemberState(A), marks={f"signal:{A}": 2})
    assert decisions.receipt(A, A_PHONE, 2)(state, NOW) is None


# Presence and joining.


@pytest.mark.parametrize("online", [True, False])
def test_presence_is_recorded_when_it_changes(online: bool) -> None:
    state = snapshot(MemberState(A, online=not online), MemberState(B))
    decision = decisions.presence(A, A_PHONE, online)(state, NOW)
    assert decision == Decision(A, Presence(online=online), A_PHONE)


@pytest.mark.parametrize("online", [True, False])
def test_presence_that_is_already_right_records_nothing(online: bool) -> None:
    state = snapshot(MemberState(A, online=online), MemberState(B))
    assert decisions.presence(A, A_PHONE, online)(state, NOW) is None


def test_presence_of_a_member_who_is_not_in_the_pair_records_nothing() -> None:
    assert decisions.presence(B, B_PHONE, True)(snapshot(MemberState(A)), NOW) is None


def test_joining_is_recorded_once() -> None:
    assert decisions.joined(B, B_PHONE)(snapshot(MemberState(A)), NOW) == Decision(
        B, Joined(), B_PHONE
    )
    assert decisions.joined(B, B_PHONE)(snapshot(MemberState(A), MemberState(B)), NOW) is None


def test_the_partner_is_the_other_member() -> None:
    state = State(version=2, members=(MemberState(A), MemberState(B)))
    assert decisions.partner_of(state, A) == B
    assert decisions.partner_of(state, B) == A
    assert decisions.partner_of(State(version=1, members=(MemberState(A),)), A) is None


# The timers of a space.


def test_a_space_ends_while_the_member_is_still_in_that_very_space() -> None:
    state = snapshot(in_space(A, space_seq=4), MemberState(B))
    decision = decisions.space_ended(A, UNTIL)(state, UNTIL)
    assert decision == Decision(A, SpaceEnded(target=4, until=UNTIL))
    assert decision.device is None


def test_a_space_ending_reminder_fires_while_the_member_is_in_that_very_space() -> None:
    state = snapshot(in_space(A, space_seq=4), MemberState(B))
    decision = decisions.space_ending(A, UNTIL)(state, UNTIL - 300_000)
    assert decision == Decision(A, SpaceEnding(target=4, until=UNTIL))
    assert decision.device is None


@pytest.mark.parametrize("timer", [decisions.space_ended, decisions.space_ending])
def test_a_timer_of_a_replaced_space_records_nothing(
    timer: Callable[[str, int], Decide],
) -> None:
    """A new need_space moved the end: the old space's timers are no-ops."""
    state = snapshot(in_space(A, until=UNTIL + 60_000, space_seq=9), MemberState(B))
    assert timer(A, UNTIL)(state, UNTIL) is None


@pytest.mark.parametrize("timer", [decisions.space_ended, decisions.space_ending])
def test_a_timer_after_im_back_records_nothing(
    timer: Callable[[str, int], Decide],
) -> None:
    state = snapshot(MemberState(A, since=NOW), MemberState(B))
    assert timer(A, UNTIL)(state, UNTIL) is None


def test_a_space_that_already_ended_does_not_end_twice() -> None:
    due = MemberState(A, MemberStatus.CHECK_IN_DUE, since=UNTIL, until=UNTIL, space_seq=4)
    assert decisions.space_ended(A, UNTIL)(snapshot(due, MemberState(B)), UNTIL + 10) is None


def test_a_timer_of_a_member_not_in_the_pair_records_nothing() -> None:
    assert decisions.space_ended(B, UNTIL)(snapshot(in_space(A)), UNTIL) is None


def test_the_space_ending_reminder_fires_only_once_per_space() -> None:
    reminded = snapshot(in_space(A, space_seq=4), MemberState(B), marks={f"ending:{A}": 4})
    assert decisions.space_ending(A, UNTIL)(reminded, UNTIL - 1000) is None


def test_a_reminder_of_an_earlier_space_does_not_silence_the_new_one() -> None:
    earlier = snapshot(in_space(A, space_seq=9), MemberState(B), marks={f"ending:{A}": 4})
    assert decisions.space_ending(A, UNTIL)(earlier, UNTIL - 1000) == Decision(
        A, SpaceEnding(target=9, until=UNTIL)
    )
