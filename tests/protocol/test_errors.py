"""Error and close codes are a published contract: these tests pin them."""

from __future__ import annotations

import pytest

from heartline_protocol import CloseCode, ErrorCode, ProtocolError


def test_error_codes_are_the_published_set() -> None:
    assert {code.value for code in ErrorCode} == {
        "bad_frame",
        "unknown_type",
        "unknown_kind",
        "invalid_field",
        "too_large",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "not_found",
        "conflict",
        "unavailable",
        "internal",
    }


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (ErrorCode.RATE_LIMITED, True),
        (ErrorCode.UNAVAILABLE, True),
        (ErrorCode.INTERNAL, True),
        (ErrorCode.INVALID_FIELD, False),
        (ErrorCode.FORBIDDEN, False),
        (ErrorCode.CONFLICT, False),
    ],
)
def test_only_transient_errors_are_retryable(code: ErrorCode, retryable: bool) -> None:
    assert code.retryable is retryable


def test_close_codes_are_the_published_set() -> None:
    assert {code.value for code in CloseCode} == {
        1000,
        1002,
        1007,
        1009,
        1011,
        4000,
        4001,
        4002,
        4003,
        4004,
        4005,
        4500,
        4501,
        4502,
        4503,
    }


def test_terminal_close_codes_are_exactly_the_4500_range() -> None:
    terminal = {code for code in CloseCode if not code.reconnect}
    assert terminal == {
        CloseCode.UNAUTHORIZED,
        CloseCode.UNPAIRED,
        CloseCode.UNSUPPORTED_PROTOCOL,
        CloseCode.BAD_HANDSHAKE,
    }
    assert CloseCode.GOING_AWAY.reconnect
    assert CloseCode.SLOW_CONSUMER.reconnect


def test_protocol_error_carries_code_field_and_id() -> None:
    error = ProtocolError(ErrorCode.INVALID_FIELD, "note: bad", field="note", id="c-1")
    assert isinstance(error, ValueError)
    assert (error.code, error.message, error.field, error.id) == (
        ErrorCode.INVALID_FIELD,
        "note: bad",
        "note",
        "c-1",
    )
    assert str(error) == "note: bad"
    assert "invalid_field" in repr(error)
