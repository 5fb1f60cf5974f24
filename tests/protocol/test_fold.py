"""The fold of SPEC.md 6.3, told as the partners live it."""

from __future__ import annotations

from heartline_protocol import (
    KEEP_ACKNOWLEDGED,
    Ack,
    CheckIn,
    Delivered,
    Event,
    EventBody,
    FeelingDisconnected,
    ImBack,
    Joined,
    MemberStatus,
    NeedSpace,
    Presence,
    SpaceEnded,
    SpaceEnding,
    State,
    UnknownEvent,
    apply_event,
)

MINUTE = 60_000


class Log:
    """Appends events the way the hub does: next sequence number, then fold."""

    def __init__(self) -> None:
        self.state = State(version=0)

    def add(self, member: str, body: EventBody, at: int) -> Event:
        event = Event(seq=self.state.version + 1, id=f"e{at}", at=at, member=member, body=body)
        self.state = apply_event(self.state, event)
        return event

    def status(self, member: str) -> MemberStatus:
        found = self.state.member(member)
        assert found is not None
        return found.status


def test_a_space_ends_with_a_check_in_due_and_im_back_makes_a_available() -> None:
    log = Log()
    space = log.add("A", NeedSpace(1800, note="walk", until=31 * MINUTE), at=MINUTE)
    member = log.state.member("A")
    assert member is not None
    assert (member.status, member.until, member.note, member.space_seq) == (
        MemberStatus.SPACE,
        31 * MINUTE,
        "walk",
        space.seq,
    )
    log.add("A", SpaceEnding(target=space.seq, until=31 * MINUTE), at=26 * MINUTE)
    assert log.status("A") is MemberStatus.SPACE
    log.add("A", SpaceEnded(target=space.seq, until=31 * MINUTE), at=31 * MINUTE)
    assert log.status("A") is MemberStatus.CHECK_IN_DUE
    log.add("A", ImBack(), at=32 * MINUTE)
    back = log.state.member("A")
    assert back is not None
    assert (back.status, back.since, back.until, back.note, back.space_seq) == (
        MemberStatus.AVAILABLE,
        32 * MINUTE,
        None,
        None,
        None,
    )
    assert log.state.version == 4


def test_space_ended_for_an_older_space_changes_nothing() -> None:
    log = Log()
    first = log.add("A", NeedSpace(600, until=11 * MINUTE), at=MINUTE)
    log.add("A", NeedSpace(1800, until=32 * MINUTE), at=2 * MINUTE)
    log.add("A", SpaceEnded(target=first.seq, until=11 * MINUTE), at=11 * MINUTE)
    assert log.status("A") is MemberStatus.SPACE


def test_an_ack_hears_the_partners_bid_and_the_ones_before_it() -> None:
    log = Log()
    lonely = log.add("B", FeelingDisconnected(note="I miss you", wish="talk"), at=1)
    how = log.add("B", CheckIn(), at=2)
    later = log.add("B", CheckIn(), at=3)
    own = log.add("A", CheckIn(), at=4)
    ack = log.add("A", Ack(target=how.seq, reply="I hear you"), at=5)
    by_seq = {bid.seq: bid for bid in log.state.bids}
    for heard in (lonely, how):
        bid_ack = by_seq[heard.seq].ack
        assert bid_ack is not None
        assert (bid_ack.seq, bid_ack.member, bid_ack.reply) == (ack.seq, "A", "I hear you")
    assert by_seq[later.seq].open
    assert by_seq[own.seq].open, "an ack never hears one's own bid"
    assert [bid.seq for bid in log.state.open_bids] == [later.seq, own.seq]
    assert by_seq[lonely.seq].wish == "talk"


def test_only_the_latest_acknowledged_bids_are_kept_but_every_open_one_is() -> None:
    log = Log()
    waiting = log.add("A", CheckIn(), at=0)
    for at in range(1, KEEP_ACKNOWLEDGED + 4):
        bid = log.add("B", CheckIn(), at=at)
        log.add("A", Ack(target=bid.seq), at=at)
    acknowledged = [bid for bid in log.state.bids if not bid.open]
    assert len(acknowledged) == KEEP_ACKNOWLEDGED
    assert acknowledged[-1].seq == log.state.version - 1
    assert log.state.open_bids[0].seq == waiting.seq


def test_presence_and_delivery_receipts() -> None:
    log = Log()
    log.add("A", Presence(online=True), at=10)
    log.add("B", Delivered(through=1), at=11)
    log.add("B", Delivered(through=1), at=12)
    log.add("A", Presence(online=False), at=20)
    a, b = log.state.member("A"), log.state.member("B")
    assert a is not None
    assert b is not None
    assert (a.online, a.last_seen) == (False, 20)
    assert b.received == 1
    assert [m.id for m in log.state.members] == ["A", "B"]


def test_events_already_folded_and_unknown_kinds_change_nothing_but_the_version() -> None:
    log = Log()
    event = log.add("A", NeedSpace(600, until=10), at=1)
    before = log.state
    assert apply_event(before, event) is before
    log.add("A", UnknownEvent("breath_pacer", {"bpm": 6}), at=2)
    assert log.state.version == 2
    assert log.state.members == before.members
    assert log.state.bids == before.bids


def test_members_enter_the_state_when_they_join() -> None:
    log = Log()
    log.add("A", Joined(), at=1)
    assert [(m.id, m.status, m.online) for m in log.state.members] == [
        ("A", MemberStatus.AVAILABLE, False)
    ]
    log.add("B", Joined(), at=2)
    assert [m.id for m in log.state.members] == ["A", "B"]
