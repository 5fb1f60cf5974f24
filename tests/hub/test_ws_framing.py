"""The hand-made framing of an open WebSocket (ws_framing.py), against RFC 6455.

Client frames are built by websockets' own serializer, an implementation
independent of the one under test.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode

from heartline_hub.ws_framing import (
    Closed,
    Completed,
    Failed,
    FrameReader,
    Ping,
    Whole,
    close_frame,
    echo_close,
    pong_frame,
)

MAX = 1024


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=True, extensions=[])


def unmasked(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=False, extensions=[])


def feed(*chunks: bytes, max_size: int = MAX) -> list[Completed]:
    reader = FrameReader(max_size)
    return [item for chunk in chunks for item in reader.feed(chunk)]


def test_a_binary_frame_is_a_whole_binary_message() -> None:
    assert feed(client_frame(Opcode.BINARY, b"\x81\xa4type")) == [Whole(False, b"\x81\xa4type")]


def test_a_text_frame_is_a_whole_text_message() -> None:
    assert feed(client_frame(Opcode.TEXT, "hé".encode())) == [Whole(True, "hé".encode())]


def test_frames_cut_at_every_byte_give_the_same_messages() -> None:
    wire = client_frame(Opcode.BINARY, b"a" * 300) + client_frame(Opcode.BINARY, b"b")
    assert feed(*(wire[i : i + 1] for i in range(len(wire)))) == [
        Whole(False, b"a" * 300),
        Whole(False, b"b"),
    ]


def test_payload_lengths_of_16_and_64_bits_are_read() -> None:
    long_16, long_64 = b"x" * 70_000, b"y" * 200
    frames = feed(client_frame(Opcode.BINARY, long_16), max_size=100_000)
    assert frames == [Whole(False, long_16)]
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, len(long_64)) + b"\x00\x00\x00\x00"
    assert feed(header + long_64) == [Whole(False, long_64)]


def test_fragments_are_joined_into_one_message() -> None:
    wire = (
        client_frame(Opcode.TEXT, b"he", fin=False)
        + client_frame(Opcode.CONT, b"ll", fin=False)
        + client_frame(Opcode.CONT, b"o")
    )
    assert feed(wire) == [Whole(True, b"hello")]


def test_a_ping_between_fragments_is_answered_without_breaking_the_message() -> None:
    wire = (
        client_frame(Opcode.BINARY, b"ab", fin=False)
        + client_frame(Opcode.PING, b"p")
        + client_frame(Opcode.CONT, b"cd")
    )
    assert feed(wire) == [Ping(b"p"), Whole(False, b"abcd")]


def test_a_pong_is_read_and_dropped() -> None:
    assert feed(client_frame(Opcode.PONG, b"late")) == []


def test_a_close_gives_its_code_and_reason_and_nothing_after_it_is_read() -> None:
    wire = client_frame(Opcode.CLOSE, Close(1000, "bye").serialize())
    assert feed(wire + client_frame(Opcode.BINARY, b"after")) == [Closed(1000, "bye")]


def test_an_empty_close_has_no_status_1005() -> None:
    assert feed(client_frame(Opcode.CLOSE, b"")) == [Closed(1005, "")]


def test_messages_before_a_violation_are_returned_before_the_failure() -> None:
    wire = client_frame(Opcode.BINARY, b"ok") + unmasked(Opcode.BINARY, b"bad")
    assert feed(wire) == [Whole(False, b"ok"), Failed(1002, "a client's frames must be masked")]


def test_nothing_is_read_after_a_violation() -> None:
    reader = FrameReader(MAX)
    assert isinstance(reader.feed(unmasked(Opcode.BINARY, b"bad"))[0], Failed)
    assert reader.feed(client_frame(Opcode.BINARY, b"ok")) == []


def failure(*chunks: bytes, max_size: int = MAX) -> int:
    items = feed(*chunks, max_size=max_size)
    assert items, "a violation is reported"
    last = items[-1]
    assert isinstance(last, Failed), items
    return last.code


def test_protocol_violations_close_with_1002() -> None:
    assert failure(unmasked(Opcode.BINARY, b"x")) == 1002
    with_rsv1 = bytearray(client_frame(Opcode.BINARY, b"x"))
    with_rsv1[0] |= 0x40
    assert failure(bytes(with_rsv1)) == 1002
    assert failure(b"\x83\x80\x00\x00\x00\x00") == 1002, "opcode 3 is reserved"
    assert failure(b"\x09\x81\x00\x00\x00\x00p") == 1002, "a ping without fin"
    assert failure(b"\x89\xfe\x00\x7e\x00\x00\x00\x00" + b"p" * 126) == 1002, "126 bytes"
    assert failure(client_frame(Opcode.CONT, b"x")) == 1002
    started = client_frame(Opcode.BINARY, b"a", fin=False)
    assert failure(started + client_frame(Opcode.BINARY, b"b")) == 1002
    assert failure(client_frame(Opcode.CLOSE, b"\x03")) == 1002, "a one-byte close payload"
    assert failure(client_frame(Opcode.CLOSE, struct.pack("!H", 1005))) == 1002
    assert failure(client_frame(Opcode.CLOSE, struct.pack("!H", 2999))) == 1002


def test_text_and_close_reasons_that_are_not_utf8_close_with_1007() -> None:
    assert failure(client_frame(Opcode.TEXT, b"\xff")) == 1007
    assert failure(client_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"\xc3")) == 1007


def test_a_message_over_the_limit_closes_with_1009_once_its_header_says_so() -> None:
    header_only = client_frame(Opcode.BINARY, b"z" * (MAX + 1))[:8]
    assert failure(header_only) == 1009, "refused before the payload arrives"
    in_fragments = client_frame(Opcode.BINARY, b"a" * 600, fin=False) + client_frame(
        Opcode.CONT, b"b" * 600
    )
    assert failure(in_fragments) == 1009
    assert feed(client_frame(Opcode.BINARY, b"c" * MAX)) == [Whole(False, b"c" * MAX)]


def test_the_hubs_control_frames_parse_as_websockets_reads_them() -> None:
    assert pong_frame(b"p") == Frame(Opcode.PONG, b"p").serialize(mask=False, extensions=[])
    long_reason = "é" * 100
    frame = close_frame(4004, long_reason)
    assert frame[0] == 0x88
    assert frame[1] <= 125
    parsed = Close.parse(frame[2:])
    assert parsed.code == 4004
    assert long_reason.startswith(parsed.reason)


def test_a_close_is_echoed_with_its_code_or_empty_when_it_had_none() -> None:
    assert echo_close(Closed(1005, "")) == b"\x88\x00"
    echoed = echo_close(Closed(4001, "bye"))
    assert echoed[0] == 0x88
    assert Close.parse(echoed[2:]).code == 4001


messages = st.lists(
    st.tuples(st.booleans(), st.binary(max_size=300), st.integers(min_value=1, max_value=3)),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(messages=messages, cut=st.integers(min_value=1, max_value=64))
def test_any_messages_in_any_fragments_and_chunks_come_out_whole(
    messages: list[tuple[bool, bytes, int]], cut: int
) -> None:
    wire = b""
    expected = []
    for text, data, pieces in messages:
        payload = data.hex().encode() if text else data
        expected.append(Whole(text, payload))
        size = max(1, -(-len(payload) // pieces))
        parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        for i, part in enumerate(parts):
            opcode = (Opcode.TEXT if text else Opcode.BINARY) if i == 0 else Opcode.CONT
            wire += client_frame(opcode, part, fin=i == len(parts) - 1)
    chunks = [wire[i : i + cut] for i in range(0, len(wire), cut)]
    assert feed(*chunks, max_size=10_000) == expected
