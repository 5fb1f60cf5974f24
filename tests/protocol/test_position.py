"""When a client may resume from its last position (SPEC.md 7.3)."""

from __future__ import annotations

import pytest

from heartline_protocol import ErrorCode, Position, ProtocolError, can_resume

LOG = Position(seq=120, epoch="e1")


@pytest.mark.parametrize(
    ("client", "first_seq", "expected"),
    [
        (Position(120, "e1"), 1, True),  # up to date
        (Position(100, "e1"), 1, True),  # behind, history retained
        (Position(0, "e1"), 1, True),  # never saw anything, nothing trimmed
        (Position(49, "e1"), 50, True),  # the oldest retained event is the next one
        (Position(48, "e1"), 50, False),  # event 49 was trimmed away
        (Position(121, "e1"), 1, False),  # ahead of the log: the log lost history
        (Position(100, "e0"), 1, False),  # another epoch: another log
    ],
)
def test_can_resume(client: Position, first_seq: int, expected: bool) -> None:
    assert can_resume(client, log=LOG, first_seq=first_seq) is expected


def test_empty_log_accepts_only_position_zero() -> None:
    empty = Position(0, "e1")
    assert can_resume(Position(0, "e1"), log=empty, first_seq=1)
    assert not can_resume(Position(1, "e1"), log=empty, first_seq=1)


def test_position_is_validated() -> None:
    with pytest.raises(ProtocolError) as raised:
        Position(-1, "e1")
    assert raised.value.code is ErrorCode.INVALID_FIELD
    assert raised.value.field == "seq"
    with pytest.raises(ProtocolError):
        Position(1, "")
