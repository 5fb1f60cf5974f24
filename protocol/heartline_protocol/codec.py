"""Bytes to frames and back (SPEC.md 3 and 4).

``encode`` turns a frame into the bytes of one WebSocket binary message.
``decode_from_client`` (used by a hub) and ``decode_from_hub`` (used by a
client) turn the bytes of one message into a frame, or raise
:class:`ProtocolError` with a stable code; no other exception escapes them,
whatever the bytes. Checks run cheapest first: the size before any
unpacking, then msgpack itself (with duplicate keys refused, which msgpack
would silently merge), then nesting depth, then the frame's own fields.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgpack

from .errors import ErrorCode, ProtocolError
from .fields import check_id
from .frames import CLIENT_FRAMES, HUB_FRAMES, ClientFrame, Frame, HubFrame, Ping, Pong, Signal
from .limits import DEFAULT_LIMITS, Limits
from .signals import NeedSpace
from .wire import WireMap

__all__ = [
    "MAX_DEPTH",
    "MAX_HUB_FRAME_BYTES",
    "decode_from_client",
    "decode_from_hub",
    "encode",
    "encode_pong",
    "encode_signal_result",
]

MAX_DEPTH = 16
"""Containers nested deeper than this anywhere in a frame make it a bad frame."""

MAX_HUB_FRAME_BYTES = 1 << 20
"""The largest message a client must accept from a hub (a welcome with a full state)."""

F = TypeVar("F", ClientFrame, HubFrame)


def encode(frame: Frame) -> bytes:
    """The bytes of one binary WebSocket message carrying ``frame``."""
    wire = {"type": frame.type}
    wire.update(frame.to_map())
    return msgpack.packb(wire, use_bin_type=True)  # type: ignore[no-any-return]


_EVENT_TYPE: bytes = msgpack.packb("type") + msgpack.packb("event")
_RESULT_HEAD: bytes = b"\x83" + b"".join(map(msgpack.packb, ("type", "result", "id")))
_EVENT_KEY: bytes = msgpack.packb("event")
_FIXMAP, _MAP16 = 0x80, 0xDE


def encode_signal_result(id: str, event_frame: bytes) -> bytes:
    """``encode(Result(id=id, event=e))``, given ``encode(e)``: the same bytes, packed once.

    A hub answers every signal with the event it stored (SPEC.md 4.4), whose
    frame it already encoded for the devices. The result's ``event`` is that
    frame's map without its ``type``, so its bytes are spliced rather than
    packed again.
    """
    check_id(id, "id")
    count, start = _map_header(event_frame)
    if event_frame[start : start + len(_EVENT_TYPE)] != _EVENT_TYPE:
        raise ValueError("event_frame: not an encoded event frame")
    fields = event_frame[start + len(_EVENT_TYPE) :]
    packed_id: bytes = msgpack.packb(id)
    return _RESULT_HEAD + packed_id + _EVENT_KEY + _pack_map_header(count - 1) + fields


def _map_header(data: bytes) -> tuple[int, int]:
    """(entries, header length) of the map ``data`` starts with, as :func:`encode` writes it."""
    if data and _FIXMAP <= data[0] <= _FIXMAP + 15:
        return data[0] - _FIXMAP, 1
    if data[:1] == bytes([_MAP16]):
        return int.from_bytes(data[1:3], "big"), 3
    raise ValueError("event_frame: not an encoded event frame")


def _pack_map_header(count: int) -> bytes:
    return bytes([_FIXMAP + count]) if count < 16 else bytes([_MAP16]) + count.to_bytes(2, "big")


def encode_pong(t: int | None, now: int) -> bytes:
    """``encode(Pong(t=t, now=now))``, the same bytes, without building the frame.

    A hub answers every client's ping (10,000 idle devices: 400 a second);
    ``t`` is the ping's, already checked when it was decoded.
    """
    if t is None:
        return msgpack.packb({"type": "pong", "now": now})  # type: ignore[no-any-return]
    return msgpack.packb({"type": "pong", "t": t, "now": now})  # type: ignore[no-any-return]


_PING_HEAD: bytes = msgpack.packb({"type": "ping", "t": 0})[:-1]
"""``{"type": "ping", "t": ...}`` up to the value of ``t``, as clients write a ping."""
_PONG_HEAD: bytes = msgpack.packb({"type": "pong", "t": 0})[:-1]
"""The same for a client's answer to the hub's ping."""
_HEARTBEAT_MAX_BYTES = len(_PING_HEAD) + 9


def decode_from_client(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ClientFrame:
    """A frame a client sent, checked against the hub's ``limits``."""
    heartbeat = _usual_heartbeat(data)
    if heartbeat is not None:
        return heartbeat
    frame = _decode(data, CLIENT_FRAMES, limits.max_frame_bytes, "client")
    if isinstance(frame, Signal) and isinstance(frame.body, NeedSpace):
        _check_duration(frame.body.duration, limits, frame.id)
    return frame


def _usual_heartbeat(data: bytes) -> Ping | Pong | None:
    """The commonest frames, read without the general decoder's work; None for anything
    but a ping or pong written as :func:`encode` writes it with an integer ``t``, which
    then takes the general path (and gets its errors)."""
    if type(data) is not bytes or len(data) > _HEARTBEAT_MAX_BYTES:
        return None
    if data.startswith(_PING_HEAD):
        frame_class: type[Ping] | type[Pong] = Ping
    elif data.startswith(_PONG_HEAD):
        frame_class = Pong
    else:
        return None
    try:
        t = msgpack.unpackb(data[len(_PING_HEAD) :])
        return frame_class(t=t) if type(t) is int else None
    except (ValueError, ProtocolError, msgpack.UnpackException):
        return None


def decode_from_hub(data: bytes) -> HubFrame:
    """A frame a hub sent."""
    frame = _decode(data, HUB_FRAMES, MAX_HUB_FRAME_BYTES, "hub")
    if isinstance(frame, Pong) and frame.now is None:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "now: required in a hub's pong", field="now")
    return frame


def _decode(data: bytes, frame_types: dict[str, type[F]], max_bytes: int, sender: str) -> F:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(ErrorCode.BAD_FRAME, "a frame is a binary message of msgpack")
    if len(data) > max_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes exceeds the limit of {max_bytes}"
        )
    wire = _unpack_map(data)
    frame_type = wire.get("type")
    if type(frame_type) is not str:
        raise ProtocolError(ErrorCode.BAD_FRAME, "type: a frame needs a string type", field="type")
    frame_class = frame_types.get(frame_type)
    if frame_class is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"type: {frame_type[:32]!r} is not a frame a {sender} sends in protocol v1",
            field="type",
            id=_readable_id(wire),
        )
    try:
        return frame_class.from_map(wire)
    except ProtocolError as error:
        error.id = _readable_id(wire)
        raise


def _unpack_map(data: bytes) -> WireMap:
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            object_pairs_hook=_map_without_duplicates,
            ext_hook=_refuse_ext,
        )
    except ProtocolError:
        raise
    except (ValueError, TypeError) as error:
        raise ProtocolError(ErrorCode.BAD_FRAME, _unpack_failure(error)) from None
    if type(value) is not dict:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a frame is a msgpack map")
    _check_values(value, MAX_DEPTH)
    return value


def _unpack_failure(error: Exception) -> str:
    if isinstance(error, msgpack.ExtraData):
        return "more than one msgpack value in one message"
    if isinstance(error, UnicodeDecodeError):
        return "a string is not valid UTF-8"
    if isinstance(error, msgpack.StackError):
        return f"nested deeper than {MAX_DEPTH} levels"
    if "map key" in str(error):
        return "map keys must be strings"
    return "not valid msgpack (truncated or malformed)"


def _map_without_duplicates(pairs: list[tuple[Any, Any]]) -> WireMap:
    """Build a map, refusing the duplicate and binary keys msgpack would accept."""
    wire = dict(pairs)
    if len(wire) != len(pairs):
        raise ProtocolError(ErrorCode.BAD_FRAME, "a map has the same key twice")
    if not all(type(key) is str for key in wire):
        raise ProtocolError(ErrorCode.BAD_FRAME, "map keys must be strings")
    return wire


def _refuse_ext(code: int, data: bytes) -> Any:
    del data
    raise ProtocolError(ErrorCode.BAD_FRAME, f"msgpack extension type {code} is not used")


def _check_values(value: Any, allowed_depth: int) -> None:
    """Refuse what the unpacker lets through: deep nesting and its built-in timestamps.

    msgpack decodes the timestamp extension (type -1) itself, without
    calling ``ext_hook``, so it is found here.
    """
    if type(value) is dict:
        children: Any = value.values()
    elif type(value) is list:
        children = value
    elif type(value) is msgpack.Timestamp:
        raise ProtocolError(ErrorCode.BAD_FRAME, "msgpack extension type -1 is not used")
    else:
        return
    if allowed_depth == 0:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"nested deeper than {MAX_DEPTH} levels")
    for child in children:
        _check_values(child, allowed_depth - 1)


def _readable_id(wire: WireMap) -> str | None:
    """The frame's client message id, if it has one that could be echoed back."""
    try:
        return check_id(wire.get("id"), "id")
    except ProtocolError:
        return None


def _check_duration(duration: int, limits: Limits, frame_id: str) -> None:
    if not limits.min_space_seconds <= duration <= limits.max_space_seconds:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"duration: must be between {limits.min_space_seconds} and "
            f"{limits.max_space_seconds} seconds, got {duration}",
            field="duration",
            id=frame_id,
        )
