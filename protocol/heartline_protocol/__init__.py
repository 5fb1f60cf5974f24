"""Heartline wire protocol v1: sans-I/O frames, codec and error codes.

Pure data and functions: bytes in, typed frames out, and back. Nothing here
does I/O or imports asyncio, so the hub (aiohttp) and every client
(websockets, or anything else) share one definition of every frame and every
error code. protocol/SPEC.md is the normative description.
"""

from .codec import (
    MAX_DEPTH,
    MAX_HUB_FRAME_BYTES,
    decode_from_client,
    decode_from_hub,
    encode,
    encode_pong,
    encode_signal_result,
)
from .errors import CloseCode, ErrorCode, ProtocolError
from .events import (
    EVENT_KINDS,
    Delivered,
    Event,
    EventBody,
    HubEventKind,
    Joined,
    Presence,
    SpaceEnded,
    SpaceEnding,
    UnknownEvent,
    WebhookDisabled,
)
from .fields import MAX_ID_CHARS, MAX_INT, MAX_NOTE_CHARS
from .fold import KEEP_ACKNOWLEDGED, apply_event
from .frames import (
    CLIENT_FRAMES,
    HUB_FRAMES,
    MAX_SYNC_LIMIT,
    ClientFrame,
    Error,
    Frame,
    Goaway,
    Hello,
    HubFrame,
    Ping,
    Pong,
    Received,
    Result,
    Signal,
    Snapshot,
    Sync,
    Welcome,
)
from .limits import DEFAULT_LIMITS, MAX_FRAME_BYTES, Limits
from .position import Position, can_resume
from .signals import (
    SIGNAL_KINDS,
    Ack,
    CheckIn,
    FeelingDisconnected,
    ImBack,
    NeedSpace,
    SignalBody,
    SignalKind,
    Wish,
)
from .state import STATUS_TRANSITIONS, Bid, BidAck, MemberState, MemberStatus, State, next_status

SUBPROTOCOL = "heartline.v1"
"""The WebSocket subprotocol name of this version (SPEC.md 2)."""

__all__ = [
    "CLIENT_FRAMES",
    "DEFAULT_LIMITS",
    "EVENT_KINDS",
    "HUB_FRAMES",
    "KEEP_ACKNOWLEDGED",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_HUB_FRAME_BYTES",
    "MAX_ID_CHARS",
    "MAX_INT",
    "MAX_NOTE_CHARS",
    "MAX_SYNC_LIMIT",
    "SIGNAL_KINDS",
    "STATUS_TRANSITIONS",
    "SUBPROTOCOL",
    "Ack",
    "Bid",
    "BidAck",
    "CheckIn",
    "ClientFrame",
    "CloseCode",
    "Delivered",
    "Error",
    "ErrorCode",
    "Event",
    "EventBody",
    "FeelingDisconnected",
    "Frame",
    "Goaway",
    "Hello",
    "HubEventKind",
    "HubFrame",
    "ImBack",
    "Joined",
    "Limits",
    "MemberState",
    "MemberStatus",
    "NeedSpace",
    "Ping",
    "Pong",
    "Position",
    "Presence",
    "ProtocolError",
    "Received",
    "Result",
    "Signal",
    "SignalBody",
    "SignalKind",
    "Snapshot",
    "SpaceEnded",
    "SpaceEnding",
    "State",
    "Sync",
    "UnknownEvent",
    "WebhookDisabled",
    "Welcome",
    "Wish",
    "apply_event",
    "can_resume",
    "decode_from_client",
    "decode_from_hub",
    "encode",
    "encode_pong",
    "encode_signal_result",
    "next_status",
]
