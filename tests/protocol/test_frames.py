"""Frames are validated on construction, so a frame that exists is a valid frame."""

from __future__ import annotations

import pytest

from heartline_protocol import (
    Error,
    ErrorCode,
    Event,
    FeelingDisconnected,
    Hello,
    Limits,
    NeedSpace,
    Position,
    ProtocolError,
    Signal,
    Sync,
    Welcome,
)
from heartline_protocol.state import State


@pytest.mark.parametrize(
    ("build", "code", "field"),
    [
        (lambda: NeedSpace(duration=0), ErrorCode.INVALID_FIELD, "duration"),
        (lambda: NeedSpace(duration=True), ErrorCode.INVALID_FIELD, "duration"),
        (lambda: NeedSpace(duration=60, note="é" * 281), ErrorCode.TOO_LARGE, "note"),
        (lambda: FeelingDisconnected(wish="Quality Time"), ErrorCode.INVALID_FIELD, "wish"),
        (lambda: Signal("", NeedSpace(60)), ErrorCode.INVALID_FIELD, "id"),
        (lambda: Signal("x" * 65, NeedSpace(60)), ErrorCode.INVALID_FIELD, "id"),
        (lambda: Sync("s-1", after=0, limit=1001), ErrorCode.INVALID_FIELD, "limit"),
        (lambda: Hello(token="with space"), ErrorCode.INVALID_FIELD, "token"),
        (
            lambda: Limits(min_space_seconds=10, max_space_seconds=5),
            ErrorCode.INVALID_FIELD,
            "min_space_seconds",
        ),
    ],
)
def test_invalid_values_are_refused_on_construction(
    build: object, code: ErrorCode, field: str
) -> None:
    with pytest.raises(ProtocolError) as raised:
        build()  # type: ignore[operator]
    assert (raised.value.code, raised.value.field) == (code, field)


def test_a_note_of_280_characters_is_allowed_whatever_its_bytes() -> None:
    assert NeedSpace(duration=60, note="🌿" * 280).note == "🌿" * 280


def test_a_signal_cannot_carry_the_hubs_until() -> None:
    with pytest.raises(ProtocolError) as raised:
        Signal("c-1", NeedSpace(duration=60, until=1))
    assert raised.value.field == "until"


def test_a_signal_body_must_be_a_signal_kind() -> None:
    with pytest.raises(TypeError):
        Signal("c-1", Position(1, "e"))  # type: ignore[arg-type]


def test_hello_never_shows_its_token() -> None:
    assert "s3cret" not in repr(Hello(token="s3cret"))


def test_error_frame_from_a_protocol_error() -> None:
    error = ProtocolError(ErrorCode.TOO_LARGE, "note: too long", field="note", id="c-2")
    frame = Error.from_exception(error)
    assert frame == Error(code="too_large", message="note: too long", id="c-2", field="note")
    assert frame.error_code is ErrorCode.TOO_LARGE


def test_error_code_from_a_newer_hub_is_kept_as_text() -> None:
    frame = Error(code="quiet_hours", message="partner is in quiet hours")
    assert frame.error_code is None
    assert frame.code == "quiet_hours"


def test_limits_from_a_newer_hub_ignore_unknown_limits() -> None:
    limits = Limits.from_map({"max_frame_bytes": 4096, "max_rituals": 3})
    assert limits == Limits(max_frame_bytes=4096)


def test_welcome_requires_its_ids() -> None:
    with pytest.raises(ProtocolError) as raised:
        Welcome(
            pair="p",
            member="m",
            device="",
            epoch="e",
            server_time=1,
            heartbeat_ms=25_000,
            state=State(version=0),
            limits=Limits(),
        )
    assert raised.value.field == "device"


def test_text_must_be_encodable_unicode() -> None:
    with pytest.raises(ProtocolError) as raised:
        NeedSpace(duration=60, note="half a pair \ud800")
    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_FIELD, "note")


def test_a_need_space_event_carries_its_end() -> None:
    with pytest.raises(ProtocolError) as raised:
        Event(seq=1, id="e1", at=1000, member="m_A", body=NeedSpace(duration=60))
    assert raised.value.field == "until"


def test_retry_after_travels_from_the_exception_to_the_frame() -> None:
    error = ProtocolError(ErrorCode.RATE_LIMITED, "too many signals", id="c-3", retry_after_ms=250)
    assert Error.from_exception(error).retry_after_ms == 250
