"""The codec: bytes in, frames out, and one exception type for bad input (SPEC.md 3)."""

from __future__ import annotations

import msgpack
import pytest

from heartline_protocol import (
    DEFAULT_LIMITS,
    MAX_HUB_FRAME_BYTES,
    Ack,
    ErrorCode,
    Event,
    Hello,
    Limits,
    NeedSpace,
    Ping,
    Position,
    ProtocolError,
    Signal,
    UnknownEvent,
    decode_from_client,
    decode_from_hub,
    encode,
    encode_signal_result,
)


def pack(wire: object) -> bytes:
    return msgpack.packb(wire)  # type: ignore[no-any-return]


def client_error(data: object, limits: Limits = DEFAULT_LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as raised:
        decode_from_client(data, limits)  # type: ignore[arg-type]
    return raised.value


def test_signal_round_trips_with_type_first() -> None:
    frame = Signal("c-1", NeedSpace(duration=1800, note="walk"))
    data = encode(frame)
    assert next(iter(msgpack.unpackb(data))) == "type"
    assert decode_from_client(data) == frame


def test_oversize_message_is_refused_before_unpacking() -> None:
    garbage = b"\xc1" * (DEFAULT_LIMITS.max_frame_bytes + 1)
    error = client_error(garbage)
    assert error.code is ErrorCode.TOO_LARGE


def test_frame_limit_comes_from_the_hubs_limits() -> None:
    data = encode(Signal("c-1", NeedSpace(duration=600, note="x" * 200)))
    assert client_error(data, Limits(max_frame_bytes=64)).code is ErrorCode.TOO_LARGE


def test_text_is_not_a_frame() -> None:
    assert client_error('{"type": "ping"}').code is ErrorCode.BAD_FRAME


def test_error_names_the_client_message_id_of_the_offending_frame() -> None:
    data = pack({"type": "signal", "id": "c-9", "kind": "check_in", "note": 7})
    error = client_error(data)
    assert (error.code, error.field, error.id) == (ErrorCode.INVALID_FIELD, "note", "c-9")


def test_unreadable_id_is_not_echoed() -> None:
    data = pack({"type": "signal", "id": "has space", "kind": "check_in"})
    error = client_error(data)
    assert (error.field, error.id) == ("id", None)


def test_unknown_signal_kind_is_its_own_code() -> None:
    data = pack({"type": "signal", "id": "c-1", "kind": "breathe_together"})
    error = client_error(data)
    assert (error.code, error.field, error.id) == (ErrorCode.UNKNOWN_KIND, "kind", "c-1")


def test_space_duration_is_checked_against_configured_limits() -> None:
    data = encode(Signal("c-1", NeedSpace(duration=5)))
    assert client_error(data).code is ErrorCode.INVALID_FIELD
    short_spaces = Limits(min_space_seconds=1, max_space_seconds=30)
    assert decode_from_client(data, short_spaces) == Signal("c-1", NeedSpace(duration=5))
    long_space = encode(Signal("c-2", NeedSpace(duration=31)))
    error = client_error(long_space, short_spaces)
    assert (error.field, error.id) == ("duration", "c-2")


def test_until_in_a_signal_is_ignored() -> None:
    data = pack({"type": "signal", "id": "c-1", "kind": "need_space", "duration": 60, "until": "x"})
    assert decode_from_client(data) == Signal("c-1", NeedSpace(duration=60))


def test_unknown_fields_are_ignored() -> None:
    data = pack({"type": "ping", "t": 5, "color": "blue", "extra": {"a": [1, 2]}})
    assert decode_from_client(data) == Ping(t=5)


def test_nil_reads_as_absent() -> None:
    data = pack({"type": "hello", "token": "tok", "resume": None, "agent": None})
    assert decode_from_client(data) == Hello(token="tok")


def test_frames_only_travel_in_their_direction() -> None:
    hello = encode(Hello(token="tok", resume=Position(3, "e1")))
    with pytest.raises(ProtocolError) as raised:
        decode_from_hub(hello)
    assert raised.value.code is ErrorCode.UNKNOWN_TYPE
    assert decode_from_client(hello) == Hello(token="tok", resume=Position(3, "e1"))


def test_hub_frames_may_be_larger_than_client_frames() -> None:
    note = "x" * 280
    event = Event(seq=1, id="e-1", at=1, member="m_A", body=UnknownEvent("future", {"n": note}))
    decoded = decode_from_hub(encode(event))
    assert isinstance(decoded, Event)
    assert decoded.body == UnknownEvent("future")
    with pytest.raises(ProtocolError) as raised:
        decode_from_hub(b"\x80" * (MAX_HUB_FRAME_BYTES + 1))
    assert raised.value.code is ErrorCode.TOO_LARGE


def test_unknown_event_kind_keeps_its_fields_and_reencodes() -> None:
    data = pack(
        {
            "type": "event",
            "seq": 4,
            "id": "e-4",
            "at": 1000,
            "kind": "breath_pacer",
            "member": "m_A",
            "bpm": 6,
        }
    )
    event = decode_from_hub(data)
    assert isinstance(event, Event)
    assert event.kind == "breath_pacer"
    assert isinstance(event.body, UnknownEvent)
    assert event.body.fields == {"bpm": 6}
    assert encode(event) == data


def test_event_body_errors_name_the_field() -> None:
    data = pack({"type": "event", "seq": 4, "id": "e-4", "at": 1, "kind": "ack", "member": "m_A"})
    with pytest.raises(ProtocolError) as raised:
        decode_from_hub(data)
    assert (raised.value.code, raised.value.field) == (ErrorCode.INVALID_FIELD, "target")


def test_ack_round_trips() -> None:
    frame = Signal("c-3", Ack(target=41, reply="I hear you"))
    assert decode_from_client(encode(frame)) == frame


def test_a_result_is_spliced_only_from_an_event_frame() -> None:
    with pytest.raises(ValueError, match="not an encoded event frame"):
        encode_signal_result("c-1", encode(Ping(t=1)))
    with pytest.raises(ValueError, match="not an encoded event frame"):
        encode_signal_result("c-1", b"")


def test_a_spliced_result_checks_its_id() -> None:
    body = NeedSpace(duration=60, until=60_001)
    frame = encode(Event(seq=1, id="e-1", at=1, member="m_A", body=body))
    with pytest.raises(ProtocolError) as raised:
        encode_signal_result("", frame)
    assert raised.value.field == "id"
