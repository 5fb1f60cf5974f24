"""The frames of an open WebSocket, read and written by hand (RFC 6455 5 and 7).

websockets' ``ServerProtocol`` parses every frame through a chain of
generators, and each connection keeps the protocol object for its life: per
message about 30 µs of the hub's core more than parsing by hand, and about
5 KiB per idle connection (BENCHMARKS.md, "The floor"). The handshake stays
with websockets (websocket.py); once a connection without compression is
open, its frames are read here. A connection that negotiated
permessage-deflate keeps websockets' protocol throughout.

Sans-I/O, like the protocol package: :meth:`FrameReader.feed` takes bytes
and returns what they completed; nothing here touches a socket.

What a client may send, and what is refused with which close code:

* every frame masked, no reserved bit set, a known opcode (else 1002);
* control frames (close, ping, pong) final and at most 125 bytes (else 1002);
* a message in fragments: a text or binary frame, then continuations, with
  no new message started in between (else 1002);
* a message of at most ``max_size`` bytes, counted as it arrives (else 1009);
* text and close reasons in UTF-8 (else 1007); a close code a peer may send
  (else 1002).
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from heartline_protocol import CloseCode

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C extension ships in websockets' wheels
    from websockets.utils import apply_mask

__all__ = [
    "ABNORMAL_CLOSURE",
    "Closed",
    "Failed",
    "FrameReader",
    "FramingError",
    "Opcode",
    "Ping",
    "Whole",
    "close_frame",
    "echo_close",
    "pong_frame",
]

MAX_CONTROL_BYTES = 125
NO_STATUS = 1005
"""What a close frame without a code reads as (RFC 6455 7.1.5); never sent."""
ABNORMAL_CLOSURE = 1006
"""A connection lost without a close frame (RFC 6455 7.1.5); never sent."""
_PROTOCOL_ERROR, _INVALID_DATA = CloseCode.PROTOCOL_ERROR.value, CloseCode.INVALID_DATA.value
_TOO_BIG = CloseCode.MESSAGE_TOO_BIG.value
_FINAL_BINARY = 0x82
"""The first byte of nearly every frame a client sends: a whole binary message."""
_FIN, _RSV, _OPCODE = 0x80, 0x70, 0x0F
_MASKED, _LENGTH = 0x80, 0x7F


class Opcode(enum.IntEnum):
    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_CONT, _TEXT, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x8, 0x9, 0xA
_PEER_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})
"""The 1xxx close codes a peer may send (RFC 6455 7.4.1); 3000 to 4999 are open too."""
_KNOWN = frozenset(int(opcode) for opcode in Opcode)


class FramingError(Exception):
    """Raised inside the reader; :meth:`FrameReader.feed` returns it as :class:`Failed`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Whole(NamedTuple):
    """A complete message: ``text`` (already checked to be UTF-8) or binary.

    What the reader returns are named tuples, not dataclasses: one is built
    for every message, and a tuple is built at a fraction of the cost."""

    text: bool
    data: bytes


class Ping(NamedTuple):
    """A WebSocket ping, answered with a pong of the same payload."""

    payload: bytes


class Closed(NamedTuple):
    """The client's close frame: ``code`` 1005 when it carried none."""

    code: int
    reason: str


class Failed(NamedTuple):
    """The client broke the framing rules: close with ``code`` and drop the connection."""

    code: int
    reason: str


Completed = Whole | Ping | Closed | Failed


class FrameReader:
    """Client frames in, complete messages and control frames out."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._fragments_text = False
        self._fragments_size = 0
        self._in_message = False
        self._done = False

    def feed(self, data: bytes) -> list[Completed]:
        """What ``data`` completed, in order; a violation ends the list with :class:`Failed`.

        Nothing is read after the client's close frame or after a violation.
        """
        if self._done:
            return []
        buffer = self._buffer + data if self._buffer else data
        completed: list[Completed] = []
        offset = 0
        end = len(buffer)
        try:
            while not self._done:
                frame = _next_frame(buffer, offset, end)
                if frame is None:
                    break
                first, payload, offset = frame
                item = self._frame(first, payload)
                if item is not None:
                    completed.append(item)
            self._buffer = b"" if self._done or offset == end else buffer[offset:]
            if self._buffer:
                self._check_size_so_far()
        except FramingError as error:
            self._done = True
            self._buffer = b""
            completed.append(Failed(error.code, error.reason))
        return completed

    def _check_size_so_far(self) -> None:
        """A message is refused as soon as its announced size passes the limit, not
        once all of it arrived: the next frame's header says how long it is."""
        pending = _announced_length(self._buffer)
        if pending is not None and self._fragments_size + pending > self._max_size:
            raise FramingError(_TOO_BIG, f"message over {self._max_size} bytes")

    def _frame(self, first: int, payload: bytes) -> Completed | None:
        if first == _FINAL_BINARY and not self._in_message:
            if len(payload) > self._max_size:
                raise FramingError(_TOO_BIG, f"message over {self._max_size} bytes")
            return Whole(False, payload)
        opcode = first & _OPCODE
        fin = bool(first & _FIN)
        if first & _RSV:
            raise FramingError(_PROTOCOL_ERROR, "reserved bits must be 0")
        if opcode not in _KNOWN:
            raise FramingError(_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if opcode >= _CLOSE:
            return self._control(opcode, fin, payload)
        return self._data(opcode, fin, payload)

    def _control(self, opcode: int, fin: bool, payload: bytes) -> Completed | None:
        if not fin:
            raise FramingError(_PROTOCOL_ERROR, "fragmented control frame")
        if len(payload) > MAX_CONTROL_BYTES:
            raise FramingError(_PROTOCOL_ERROR, "control frame too long")
        if opcode == _PING:
            return Ping(payload)
        if opcode == _PONG:
            return None
        self._done = True
        return _parse_close(payload)

    def _data(self, opcode: int, fin: bool, payload: bytes) -> Completed | None:
        if opcode == _CONT:
            if not self._in_message:
                raise FramingError(_PROTOCOL_ERROR, "continuation frame without a message")
        elif self._in_message:
            raise FramingError(_PROTOCOL_ERROR, "a new message before the last one ended")
        else:
            self._in_message = True
            self._fragments_text = opcode == _TEXT
            self._fragments = []
            self._fragments_size = 0
        self._fragments_size += len(payload)
        if self._fragments_size > self._max_size:
            raise FramingError(_TOO_BIG, f"message over {self._max_size} bytes")
        if not fin:
            self._fragments.append(payload)
            return None
        data = b"".join((*self._fragments, payload)) if self._fragments else payload
        self._in_message = False
        self._fragments = []
        self._fragments_size = 0
        if self._fragments_text:
            _check_utf8(data, "text message")
        return Whole(self._fragments_text, data)


def _next_frame(buffer: bytes, offset: int, end: int) -> tuple[int, bytes, int] | None:
    """(first byte, unmasked payload, next offset) of the frame at ``offset``, or None
    until all of it arrived."""
    if end - offset < 2:
        return None
    first, second = buffer[offset], buffer[offset + 1]
    if not second & _MASKED:
        raise FramingError(_PROTOCOL_ERROR, "a client's frames must be masked")
    length = second & _LENGTH
    start = offset + 2
    if length == 126:
        if end - start < 2:
            return None
        (length,) = struct.unpack_from("!H", buffer, start)
        start += 2
    elif length == 127:
        if end - start < 8:
            return None
        (length,) = struct.unpack_from("!Q", buffer, start)
        start += 8
    stop = start + 4 + length
    if stop > end:
        return None
    mask = buffer[start : start + 4]
    payload = apply_mask(buffer[start + 4 : stop], mask) if length else b""
    return first, payload, stop


def _announced_length(buffer: bytes) -> int | None:
    """The payload length a partly received data frame announces, once its header is in."""
    if len(buffer) < 2 or buffer[0] & _OPCODE >= _CLOSE:
        return None
    length = buffer[1] & _LENGTH
    if length == 126:
        return struct.unpack_from("!H", buffer, 2)[0] if len(buffer) >= 4 else None
    if length == 127:
        return struct.unpack_from("!Q", buffer, 2)[0] if len(buffer) >= 10 else None
    return length


def _parse_close(payload: bytes) -> Closed:
    if not payload:
        return Closed(NO_STATUS, "")
    if len(payload) == 1:
        raise FramingError(_PROTOCOL_ERROR, "close frame with a one-byte payload")
    (code,) = struct.unpack_from("!H", payload)
    if not (code in _PEER_CODES or 3000 <= code < 5000):
        raise FramingError(_PROTOCOL_ERROR, f"close code {code} may not be sent")
    return Closed(code, _check_utf8(payload[2:], "close reason"))


def _check_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise FramingError(_INVALID_DATA, f"{what} is not UTF-8") from None


def _control_frame(opcode: Opcode, payload: bytes) -> bytes:
    return struct.pack("!BB", _FIN | opcode, len(payload)) + payload


def pong_frame(payload: bytes) -> bytes:
    return _control_frame(Opcode.PONG, payload)


def echo_close(closed: Closed) -> bytes:
    """The close frame answering a client's: its code, or no payload when it sent none."""
    if closed.code == NO_STATUS:
        return _control_frame(Opcode.CLOSE, b"")
    return close_frame(closed.code, "")


def close_frame(code: int, reason: str) -> bytes:
    """A server's close frame; the reason is cut to fit a control frame."""
    encoded = reason.encode()[: MAX_CONTROL_BYTES - 2].decode(errors="ignore").encode()
    return _control_frame(Opcode.CLOSE, struct.pack("!H", code) + encoded)
