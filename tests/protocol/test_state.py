"""The shared state and the member status table (SPEC.md 6.3)."""

from __future__ import annotations

import msgpack
import pytest

from heartline_protocol import (
    STATUS_TRANSITIONS,
    Bid,
    BidAck,
    ErrorCode,
    MemberState,
    MemberStatus,
    ProtocolError,
    State,
    decode_from_hub,
    next_status,
)

AVAILABLE, SPACE, DUE = MemberStatus.AVAILABLE, MemberStatus.SPACE, MemberStatus.CHECK_IN_DUE


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (AVAILABLE, "need_space", SPACE),
        (SPACE, "need_space", SPACE),
        (DUE, "need_space", SPACE),
        (SPACE, "im_back", AVAILABLE),
        (DUE, "im_back", AVAILABLE),
        (SPACE, "space_ended", DUE),
        (AVAILABLE, "im_back", AVAILABLE),
        (AVAILABLE, "space_ended", AVAILABLE),
        (DUE, "check_in", DUE),
        (SPACE, "space_ending", SPACE),
        (SPACE, "some_future_kind", SPACE),
    ],
)
def test_member_status_follows_the_table(
    status: MemberStatus, kind: str, expected: MemberStatus
) -> None:
    assert next_status(status, kind) is expected


def test_only_im_back_leaves_space_for_available() -> None:
    exits = {kind for (status, kind), new in STATUS_TRANSITIONS.items() if status is SPACE}
    assert exits == {"need_space", "im_back", "space_ended"}


def test_state_finds_members_and_open_bids() -> None:
    heard = Bid(2, "check_in", "m_B", 10, ack=BidAck(3, "m_A", 11, reply="I hear you"))
    waiting = Bid(4, "feeling_disconnected", "m_B", 12, wish="talk")
    state = State(
        version=4,
        members=(MemberState("m_A", SPACE, since=1, until=99, space_seq=1), MemberState("m_B")),
        bids=(heard, waiting),
    )
    member = state.member("m_A")
    assert member is not None
    assert member.status is SPACE
    assert state.member("m_C") is None
    assert state.open_bids == (waiting,)
    assert State.from_map(state.to_map()) == state


def test_nested_errors_name_their_path() -> None:
    state = {
        "version": 3,
        "members": [],
        "bids": [
            {"seq": 1, "kind": "check_in", "member": "m_A", "at": 1},
            {"seq": 2, "kind": "check_in", "member": "m_A", "at": 1, "ack": {"seq": "x"}},
        ],
    }
    welcome = {
        "type": "welcome",
        "pair": "p",
        "member": "m_A",
        "device": "d",
        "epoch": "e",
        "server_time": 1,
        "heartbeat_ms": 1,
        "limits": {},
        "state": state,
    }
    with pytest.raises(ProtocolError) as raised:
        decode_from_hub(msgpack.packb(welcome))
    assert raised.value.code is ErrorCode.INVALID_FIELD
    assert raised.value.field == "state.bids[1].ack.seq"
    assert raised.value.message.startswith("state.bids[1].ack.seq: must be an integer")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ProtocolError) as raised:
        MemberState.from_map({"id": "m_A", "status": "quiet_hours", "online": False})
    assert raised.value.field == "status"


def test_a_bid_item_that_is_not_a_map_is_named() -> None:
    with pytest.raises(ProtocolError) as raised:
        State.from_map({"version": 1, "bids": [5]})
    assert raised.value.field == "bids[0]"
