"""Write the language-neutral test vectors of protocol v1 (valid.json, invalid.json).

Run ``python protocol/vectors/generate.py`` (or ``make vectors``) after changing a
vector here; tests/protocol/test_vectors.py checks that the committed files equal
what :func:`build` produces.

Every message is built independently of our codec: from hand-written wire maps
packed with ``umsgpack`` (u-msgpack-python, a pure-Python msgpack that shares no
code with the ``msgpack`` package our codec uses), or spliced together by hand
where the bytes must be malformed. Neither ``heartline_protocol`` nor ``msgpack``
is imported here, so a valid vector checks our encoder against an independent
implementation, byte for byte.

Valid wire maps are written in the key order our encoder uses: ``type`` first,
then the fields in the order of each frame's ``to_map()``, with absent optional
fields left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import umsgpack

__all__ = ["CLIENT", "HUB", "PROTOCOL", "build", "document", "main", "render"]

PROTOCOL = "heartline.v1"
CLIENT = "client_to_hub"
"""Sent by a client; a hub decodes it (``decode_from_client``, default limits)."""
HUB = "hub_to_client"
"""Sent by a hub; a client decodes it (``decode_from_hub``)."""

HERE = Path(__file__).resolve().parent

Vector = dict[str, Any]
WireMap = dict[Any, Any]

# Realistic values: server times in milliseconds around 2025-11-24T16:00:00Z.
T0 = 1_764_000_000_000
MINUTE = 60_000
MAX_INT = 2**53 - 1
"""The largest integer protocol v1 allows (exact in JavaScript)."""

PAIR = "p_7Hq2"
MEMBER_A = "m_A"
MEMBER_B = "m_B"
DEVICE_A = "d_A1"
DEVICE_A_WATCH = "d_A2"
DEVICE_B = "d_B1"
EPOCH = "ep_1763990000_Xk4v"
NEW_EPOCH = "ep_1764003600_Qm8t"
TOKEN = "hlt_dev_8fK2mQ9xV4pL7sN3wR6tY1zB5cH0jD"

WALK_NOTE = "Ich gehe spazieren 🌿"
TALK_NOTE = "Können wir heute Abend reden?"
CHECK_IN_NOTE = "Wie war dein Tag? 💛"
ACK_REPLY = "Gut, danke, erzähl ich dir später 😊"

DEFAULT_LIMITS_MAP: WireMap = {
    "max_frame_bytes": 8192,
    "min_space_seconds": 60,
    "max_space_seconds": 86_400,
    "space_ending_seconds": 300,
    "signal_rate": 5,
    "signal_burst": 20,
}


def pack(value: Any) -> bytes:
    """One msgpack value, packed by the independent implementation."""
    data: bytes = umsgpack.packb(value)
    return data


def valid(name: str, description: str, direction: str, frame: WireMap) -> Vector:
    return {
        "name": name,
        "description": description,
        "direction": direction,
        "hex": pack(frame).hex(),
        "frame": frame,
    }


def invalid(
    name: str,
    description: str,
    direction: str,
    message: WireMap | bytes,
    code: str,
    *,
    field: str | None = None,
) -> Vector:
    """A message the receiver must refuse; ``message`` is a wire map or raw bytes."""
    data = message if isinstance(message, bytes) else pack(message)
    error: dict[str, str] = {"code": code}
    if field is not None:
        error["field"] = field
    return {
        "name": name,
        "description": description,
        "direction": direction,
        "hex": data.hex(),
        "error": error,
    }


def nested_arrays(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# ---------------------------------------------------------------------------
# Shared pieces of hub frames
# ---------------------------------------------------------------------------

SPACE_EVENT: WireMap = {
    "seq": 55,
    "id": "ev_55_r8Tz",
    "at": T0 - 10 * MINUTE,
    "kind": "need_space",
    "member": MEMBER_B,
    "device": DEVICE_B,
    "duration": 1800,
    "note": WALK_NOTE,
    "until": T0 + 20 * MINUTE,
}

REALISTIC_STATE: WireMap = {
    "version": 57,
    "members": [
        {
            "id": MEMBER_A,
            "status": "available",
            "online": True,
            "received": 57,
        },
        {
            "id": MEMBER_B,
            "status": "space",
            "since": T0 - 10 * MINUTE,
            "until": T0 + 20 * MINUTE,
            "note": WALK_NOTE,
            "space_seq": 55,
            "online": False,
            "last_seen": T0 - 9 * MINUTE,
            "received": 54,
        },
    ],
    "bids": [
        {
            "seq": 52,
            "kind": "feeling_disconnected",
            "member": MEMBER_A,
            "at": T0 - 60 * MINUTE,
            "note": TALK_NOTE,
            "wish": "talk",
        },
        {
            "seq": 53,
            "kind": "check_in",
            "member": MEMBER_B,
            "at": T0 - 45 * MINUTE,
            "note": CHECK_IN_NOTE,
            "ack": {
                "seq": 54,
                "member": MEMBER_A,
                "at": T0 - 40 * MINUTE,
                "reply": ACK_REPLY,
            },
        },
    ],
}


def welcome_map(**changes: Any) -> WireMap:
    """A realistic welcome for member A, with ``changes`` applied in place."""
    frame: WireMap = {
        "type": "welcome",
        "pair": PAIR,
        "member": MEMBER_A,
        "partner": MEMBER_B,
        "device": DEVICE_A,
        "epoch": EPOCH,
        "server_time": T0,
        "heartbeat_ms": 25_000,
        "resumed": False,
        "history_lost": False,
        "limits": DEFAULT_LIMITS_MAP,
        "state": REALISTIC_STATE,
    }
    frame.update(changes)
    return frame


# ---------------------------------------------------------------------------
# Valid vectors
# ---------------------------------------------------------------------------


def _valid_hello_and_plumbing() -> list[Vector]:
    return [
        valid(
            "hello-minimal",
            "A first connection: only the device token.",
            CLIENT,
            {"type": "hello", "token": TOKEN},
        ),
        valid(
            "hello-resume-with-agent",
            "A reconnection that resumes after event 41 of the current epoch, with the "
            "client's name and version.",
            CLIENT,
            {
                "type": "hello",
                "token": TOKEN,
                "resume": {"seq": 41, "epoch": EPOCH},
                "agent": "heartline-ios/1.4.2",
            },
        ),
        valid(
            "hello-resume-from-empty-log",
            "Resume at seq 0: the client has no event of this epoch yet.",
            CLIENT,
            {"type": "hello", "token": TOKEN, "resume": {"seq": 0, "epoch": EPOCH}},
        ),
        valid(
            "received",
            "A cumulative delivery receipt: the device has every event up to 57.",
            CLIENT,
            {"type": "received", "seq": 57},
        ),
        valid(
            "received-largest-integer",
            "seq at the largest integer the protocol allows, 2**53-1.",
            CLIENT,
            {"type": "received", "seq": MAX_INT},
        ),
        valid(
            "sync-from-start",
            "Asks for every event from the beginning of the log, default page size.",
            CLIENT,
            {"type": "sync", "id": "s-01JDA7Y3KQ8Z", "after": 0},
        ),
        valid(
            "sync-with-limit",
            "Asks for at most 100 events after 41.",
            CLIENT,
            {"type": "sync", "id": "s-01JDA7Y4M2PB", "after": 41, "limit": 100},
        ),
        valid(
            "sync-largest-limit",
            "limit at its maximum, 1000.",
            CLIENT,
            {"type": "sync", "id": "s-01JDA7Y5C9WE", "after": 41, "limit": 1000},
        ),
        valid(
            "ping-from-client",
            "A client's own ping (SPEC 7.7: when it heard nothing for a while), t echoed.",
            CLIENT,
            {"type": "ping", "t": 81_234_567},
        ),
        valid(
            "ping-from-client-empty",
            "A ping without t (answered by a pong with now only).",
            CLIENT,
            {"type": "ping"},
        ),
        valid(
            "pong-from-client",
            "A client answers the hub's ping by echoing t (no now: that is the hub's).",
            CLIENT,
            {"type": "pong", "t": T0},
        ),
    ]


def _valid_signals() -> list[Vector]:
    def signal(name: str, description: str, frame: WireMap) -> Vector:
        return valid(f"signal-{name}", description, CLIENT, {"type": "signal", **frame})

    return [
        signal(
            "need_space",
            "Half an hour of space, no note.",
            {"id": "c-01JDA80A1B2C", "kind": "need_space", "duration": 1800},
        ),
        signal(
            "need_space-with-note",
            "Half an hour of space with a non-ASCII note (German with an emoji).",
            {
                "id": "c-01JDA80D3E4F",
                "kind": "need_space",
                "duration": 1800,
                "note": WALK_NOTE,
            },
        ),
        signal(
            "need_space-shortest",
            "duration at the default minimum, 60 seconds (valid under the default limits).",
            {"id": "c-01JDA80G5H6J", "kind": "need_space", "duration": 60},
        ),
        signal(
            "need_space-longest",
            "duration at the default maximum, 86400 seconds, a day (valid under the default "
            "limits).",
            {"id": "c-01JDA80K7M8N", "kind": "need_space", "duration": 86_400},
        ),
        signal(
            "im_back",
            "Back from space, no note.",
            {"id": "c-01JDA81P9Q0R", "kind": "im_back"},
        ),
        signal(
            "im_back-with-note",
            "Back from space with a note.",
            {"id": "c-01JDA81S1T2V", "kind": "im_back", "note": "Bin wieder da ❤️"},
        ),
        signal(
            "feeling_disconnected",
            "A bid for connection with neither note nor wish.",
            {"id": "c-01JDA82W3X4Y", "kind": "feeling_disconnected"},
        ),
        signal(
            "feeling_disconnected-with-note-and-wish",
            "A bid for connection with a note and a v1 wish.",
            {
                "id": "c-01JDA82Z5A6B",
                "kind": "feeling_disconnected",
                "note": TALK_NOTE,
                "wish": "quality_time",
            },
        ),
        signal(
            "feeling_disconnected-with-future-wish",
            "A wish outside the five every v1 client shows; any token is allowed.",
            {
                "id": "c-01JDA83C7D8E",
                "kind": "feeling_disconnected",
                "wish": "cook_together",
            },
        ),
        signal(
            "check_in",
            "A check-in without a note; the id is a UUID.",
            {"id": "0f8e4b7a-3c21-4d9e-9a56-2b1e7c3d4f60", "kind": "check_in"},
        ),
        signal(
            "check_in-with-note",
            "A check-in with a note.",
            {"id": "c-01JDA84F9G0H", "kind": "check_in", "note": CHECK_IN_NOTE},
        ),
        signal(
            "check_in-note-280-code-points",
            "A note of exactly 280 code points (the maximum), 4-byte UTF-8 each: "
            "limits count code points, not bytes.",
            {"id": "c-01JDA84J1K2M", "kind": "check_in", "note": "🌿" * 280},
        ),
        signal(
            "ack",
            "Acknowledges the partner's bid at seq 52, no reply.",
            {"id": "c-01JDA85N3P4Q", "kind": "ack", "target": 52},
        ),
        signal(
            "ack-with-reply",
            "Acknowledges the partner's check-in at seq 53 with a reply.",
            {"id": "c-01JDA85R5S6T", "kind": "ack", "target": 53, "reply": ACK_REPLY},
        ),
        signal(
            "id-64-chars",
            "A client message id of 64 printable ASCII characters, the maximum.",
            {"id": "c" + "-0123456789abcdef" * 3 + "X" * 12, "kind": "check_in"},
        ),
    ]


def _valid_welcomes() -> list[Vector]:
    return [
        valid(
            "welcome",
            "Member A's welcome: partner B is in a space with a note, A's bid is open, "
            "B's check-in was acknowledged by A; default limits.",
            HUB,
            welcome_map(),
        ),
        valid(
            "welcome-new-pair",
            "A freshly created pair: the partner has not joined yet (no partner field) and "
            "the state is empty (version 0, no bids, only the member who created the pair, "
            "whose presence event follows the welcome).",
            HUB,
            _without_none(
                welcome_map(
                    pair="p_Zr91",
                    partner=None,
                    epoch="ep_1764000000_aa01",
                    state={
                        "version": 0,
                        "members": [
                            {"id": MEMBER_A, "status": "available", "online": False, "received": 0}
                        ],
                        "bids": [],
                    },
                )
            ),
        ),
        valid(
            "welcome-resumed",
            "A resumed session: the events after the client's position follow as event frames.",
            HUB,
            welcome_map(device=DEVICE_A_WATCH, resumed=True),
        ),
        valid(
            "welcome-history-lost",
            "The client's position is no longer retained (new epoch): the state replaces "
            "what it had. Limits differ from the defaults.",
            HUB,
            welcome_map(
                epoch=NEW_EPOCH,
                history_lost=True,
                limits=DEFAULT_LIMITS_MAP | {"max_frame_bytes": 16_384, "signal_burst": 10},
                state={
                    "version": 0,
                    "members": [
                        {"id": MEMBER_A, "status": "available", "online": True, "received": 0},
                        {
                            "id": MEMBER_B,
                            "status": "available",
                            "online": False,
                            "last_seen": T0 - 90 * MINUTE,
                            "received": 0,
                        },
                    ],
                    "bids": [],
                },
            ),
        ),
    ]


def _without_none(frame: WireMap) -> WireMap:
    return {key: value for key, value in frame.items() if value is not None}


def _valid_events() -> list[Vector]:
    def event(name: str, description: str, frame: WireMap) -> Vector:
        return valid(f"event-{name}", description, HUB, {"type": "event", **frame})

    return [
        event("need_space", "B's space, with the end the hub computed (until).", SPACE_EVENT),
        event(
            "im_back",
            "B is back after the space ended (check-in due), with a note.",
            {
                "seq": 60,
                "id": "ev_60_Lq2w",
                "at": T0 + 25 * MINUTE,
                "kind": "im_back",
                "member": MEMBER_B,
                "device": DEVICE_B,
                "note": "Bin wieder da ❤️",
            },
        ),
        event(
            "feeling_disconnected",
            "A's bid for connection with a note and a wish.",
            {
                "seq": 52,
                "id": "ev_52_Hd7k",
                "at": T0 - 60 * MINUTE,
                "kind": "feeling_disconnected",
                "member": MEMBER_A,
                "device": DEVICE_A,
                "note": TALK_NOTE,
                "wish": "talk",
            },
        ),
        event(
            "check_in",
            "B checks in, sent from B's phone.",
            {
                "seq": 53,
                "id": "ev_53_Pm4s",
                "at": T0 - 45 * MINUTE,
                "kind": "check_in",
                "member": MEMBER_B,
                "device": DEVICE_B,
                "note": CHECK_IN_NOTE,
            },
        ),
        event(
            "ack",
            "A acknowledges B's check-in at 53 with a reply, from A's watch.",
            {
                "seq": 54,
                "id": "ev_54_Wn6c",
                "at": T0 - 40 * MINUTE,
                "kind": "ack",
                "member": MEMBER_A,
                "device": DEVICE_A_WATCH,
                "target": 53,
                "reply": ACK_REPLY,
            },
        ),
        event(
            "space_ending",
            "The hub's timer: B's space (opened at 55) ends in 5 minutes; no device.",
            {
                "seq": 58,
                "id": "ev_58_Tb3v",
                "at": T0 + 15 * MINUTE,
                "kind": "space_ending",
                "member": MEMBER_B,
                "target": 55,
                "until": T0 + 20 * MINUTE,
            },
        ),
        event(
            "space_ended",
            "The hub's timer: B's space ended without im_back, a check-in is due.",
            {
                "seq": 59,
                "id": "ev_59_Gy5j",
                "at": T0 + 20 * MINUTE,
                "kind": "space_ended",
                "member": MEMBER_B,
                "target": 55,
                "until": T0 + 20 * MINUTE,
            },
        ),
        event(
            "delivered",
            "B's phone has received every event up to 54.",
            {
                "seq": 56,
                "id": "ev_56_Xr8e",
                "at": T0 - 8 * MINUTE,
                "kind": "delivered",
                "member": MEMBER_B,
                "device": DEVICE_B,
                "through": 54,
            },
        ),
        event(
            "presence-online",
            "A came online: the first of A's devices connected.",
            {
                "seq": 61,
                "id": "ev_61_Fk1n",
                "at": T0 + 21 * MINUTE,
                "kind": "presence",
                "member": MEMBER_A,
                "device": DEVICE_A,
                "online": True,
            },
        ),
        event(
            "joined",
            "B accepted the invite and joined the pair: B enters the state's members.",
            {
                "seq": 2,
                "id": "ev_2_Jn4b",
                "at": T0 - 30 * 24 * 60 * MINUTE,
                "kind": "joined",
                "member": MEMBER_B,
                "device": DEVICE_B,
            },
        ),
        event(
            "webhook-disabled",
            "The hub stopped delivering to a webhook A registered: its URL kept failing.",
            {
                "seq": 63,
                "id": "ev_63_Wh1d",
                "at": T0 + 23 * MINUTE,
                "kind": "webhook_disabled",
                "member": MEMBER_A,
                "webhook": "wh_Rl4yP0sh",
            },
        ),
        event(
            "presence-offline",
            "B went offline: the last of B's devices disconnected.",
            {
                "seq": 57,
                "id": "ev_57_Qz0a",
                "at": T0 - 9 * MINUTE,
                "kind": "presence",
                "member": MEMBER_B,
                "device": DEVICE_B,
                "online": False,
            },
        ),
        event(
            "unknown-kind",
            "An event kind from a newer hub. A v1 client keeps it as an unknown event "
            "(envelope plus uninterpreted fields) and skips it; it is not an error.",
            {
                "seq": 62,
                "id": "ev_62_Vc9u",
                "at": T0 + 22 * MINUTE,
                "kind": "breath_pacer",
                "member": MEMBER_A,
                "device": DEVICE_A,
                "bpm": 6,
                "pattern": {"in": 4, "hold": 0, "out": 6},
                "label": "Atmen 🌬️",
                "shared": True,
                "steps": [1, -2, [3, "vier"]],
            },
        ),
        event(
            "unknown-kind-16-levels",
            "An unknown event kind whose field nests containers down to level 16, the "
            "deepest allowed (the frame's own map is level 1).",
            {
                "seq": 63,
                "id": "ev_63_Nd4r",
                "at": T0 + 23 * MINUTE,
                "kind": "future_thing",
                "member": MEMBER_B,
                "tree": nested_arrays(15),
            },
        ),
    ]


def _valid_other_hub_frames() -> list[Vector]:
    return [
        valid(
            "result-signal",
            "The answer to B's need_space signal: the stored event, with until set by the hub.",
            HUB,
            {"type": "result", "id": "c-01JDA80D3E4F", "event": SPACE_EVENT},
        ),
        valid(
            "result-sync-more",
            "The answer to a sync: events up to 57 were sent, more follow.",
            HUB,
            {"type": "result", "id": "s-01JDA7Y4M2PB", "last": 57, "more": True},
        ),
        valid(
            "result-sync-done",
            "The answer to a sync that reached the end of the log.",
            HUB,
            {"type": "result", "id": "s-01JDA7Y5C9WE", "last": 61, "more": False},
        ),
        valid(
            "snapshot",
            "History was lost: the whole state of a new epoch, replacing the client's.",
            HUB,
            {
                "type": "snapshot",
                "epoch": NEW_EPOCH,
                "reason": "history_lost",
                "state": REALISTIC_STATE,
            },
        ),
        valid(
            "error-invalid_field",
            "The hub refuses a need_space whose duration is below its limit.",
            HUB,
            {
                "type": "error",
                "code": "invalid_field",
                "message": "duration: must be between 60 and 86400 seconds, got 30",
                "id": "c-01JDA86U7V8W",
                "field": "duration",
            },
        ),
        valid(
            "error-rate_limited",
            "Too many signals: try again in 1.5 seconds.",
            HUB,
            {
                "type": "error",
                "code": "rate_limited",
                "message": "too many signals, slow down",
                "id": "c-01JDA86X9Y0Z",
                "retry_after_ms": 1500,
            },
        ),
        valid(
            "error-unavailable-hello-turned-away",
            "The error a hub sends before closing with 4004 when it cannot serve sessions "
            "(its database is away): reconnect no sooner than retry_after_ms (SPEC 7.9).",
            HUB,
            {
                "type": "error",
                "code": "unavailable",
                "message": "storage unavailable",
                "retry_after_ms": 1000,
            },
        ),
        valid(
            "error-all-fields",
            "An error with every optional field: id, field and retry_after_ms.",
            HUB,
            {
                "type": "error",
                "code": "unavailable",
                "message": "after: the log is being restored, try again",
                "id": "s-01JDA87A1B2C",
                "field": "after",
                "retry_after_ms": 2000,
            },
        ),
        valid(
            "error-future-code",
            "An error code this version does not know is still a valid error frame.",
            HUB,
            {"type": "error", "code": "quota_exceeded", "message": "Kontingent erschöpft"},
        ),
        valid(
            "goaway",
            "The hub is stopping: reconnect within 1.5 seconds, at random.",
            HUB,
            {"type": "goaway", "reason": "shutdown", "reconnect_in_ms": 1500},
        ),
        valid(
            "goaway-minimal",
            "A goaway with only its reason: the hub moves its connections elsewhere.",
            HUB,
            {"type": "goaway", "reason": "rebalance"},
        ),
        valid(
            "ping-from-hub",
            "The hub checks a quiet connection (SPEC 7.7), t its clock: answer with pong.",
            HUB,
            {"type": "ping", "t": T0 + 25_000},
        ),
        valid(
            "pong-from-hub",
            "The hub answers a client's ping: t echoed, now the hub's clock.",
            HUB,
            {"type": "pong", "t": 81_234_567, "now": T0 + 31},
        ),
        valid(
            "pong-from-hub-without-t",
            "The hub answers a ping that had no t: only now.",
            HUB,
            {"type": "pong", "now": T0 + 31},
        ),
    ]


def valid_vectors() -> list[Vector]:
    return [
        *_valid_hello_and_plumbing(),
        *_valid_signals(),
        *_valid_welcomes(),
        *_valid_events(),
        *_valid_other_hub_frames(),
    ]


# ---------------------------------------------------------------------------
# Invalid vectors
# ---------------------------------------------------------------------------

BAD_FRAME = "bad_frame"
UNKNOWN_TYPE = "unknown_type"
UNKNOWN_KIND = "unknown_kind"
INVALID_FIELD = "invalid_field"
TOO_LARGE = "too_large"

DEFAULT_ONLY = " Invalid only under the default limits (duration 60..86400 seconds)."


def _signal(kind: Any, **fields: Any) -> WireMap:
    return {"type": "signal", "id": "c-01JDA90A1B2C", "kind": kind, **fields}


def _oversize_ping() -> bytes:
    """A ping of exactly 8193 bytes: one past the default max_frame_bytes."""
    overhead = len(pack({"type": "ping", "padding": "x" * 1000})) - 1000
    data = pack({"type": "ping", "padding": "x" * (8193 - overhead)})
    if len(data) != 8193:
        raise AssertionError(f"oversize ping is {len(data)} bytes")
    return data


def _invalid_msgpack() -> list[Vector]:
    ping = pack({"type": "ping", "t": 5})
    hello = pack({"type": "hello", "token": TOKEN})
    return [
        invalid("empty-message", "A binary message of zero bytes.", CLIENT, b"", BAD_FRAME),
        invalid("empty-message-from-hub", "A zero-byte message from the hub.", HUB, b"", BAD_FRAME),
        invalid(
            "truncated-map",
            "A map announcing two entries that holds only one.",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("ping"),
            BAD_FRAME,
        ),
        invalid(
            "truncated-map-header",
            "A map16 header cut after its first length byte.",
            CLIENT,
            bytes([0xDE, 0x00]),
            BAD_FRAME,
        ),
        invalid(
            "truncated-string",
            "A hello whose token string is cut 5 bytes short.",
            CLIENT,
            hello[:-5],
            BAD_FRAME,
        ),
        invalid(
            "truncated-integer",
            "A received whose uint32 seq is cut after two of its four bytes.",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("received") + pack("seq") + b"\xce\x00\x01",
            BAD_FRAME,
        ),
        invalid(
            "truncated-last-byte",
            "A ping with its last byte (the value of t) missing.",
            CLIENT,
            ping[:-1],
            BAD_FRAME,
        ),
        invalid(
            "truncated-from-hub",
            "A welcome cut in half.",
            HUB,
            pack(welcome_map())[:200],
            BAD_FRAME,
        ),
        invalid(
            "not-a-map-array", "The top-level value is an array.", CLIENT, pack(["ping"]), BAD_FRAME
        ),
        invalid(
            "not-a-map-string", "The top-level value is a string.", CLIENT, pack("ping"), BAD_FRAME
        ),
        invalid(
            "not-a-map-integer", "The top-level value is an integer.", CLIENT, pack(42), BAD_FRAME
        ),
        invalid("not-a-map-nil", "The top-level value is nil.", CLIENT, pack(None), BAD_FRAME),
        invalid("not-a-map-from-hub", "A hub message that is an array.", HUB, pack([]), BAD_FRAME),
        invalid(
            "trailing-data",
            "A valid ping followed by a second msgpack value in the same message.",
            CLIENT,
            pack({"type": "ping"}) + pack({"type": "ping"}),
            BAD_FRAME,
        ),
        invalid(
            "trailing-byte",
            "A valid ping followed by one stray nil byte.",
            CLIENT,
            ping + b"\xc0",
            BAD_FRAME,
        ),
        invalid(
            "reserved-byte-c1",
            "The byte 0xc1, which msgpack never uses.",
            CLIENT,
            b"\xc1",
            BAD_FRAME,
        ),
        invalid(
            "reserved-byte-c1-as-value",
            "A ping whose t is the reserved byte 0xc1.",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("ping") + pack("t") + b"\xc1",
            BAD_FRAME,
        ),
        invalid(
            "invalid-utf8-in-note",
            "A check_in whose note is not valid UTF-8 (0xc3 0x28).",
            CLIENT,
            bytes([0x84])
            + pack("type")
            + pack("signal")
            + pack("id")
            + pack("c-01JDA90A1B2C")
            + pack("kind")
            + pack("check_in")
            + pack("note")
            + b"\xa3\xc3\x28!",
            BAD_FRAME,
        ),
        invalid(
            "invalid-utf8-surrogate",
            "A string holding a UTF-16 surrogate encoded as UTF-8 (0xed 0xa0 0x80).",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("ping") + pack("x") + b"\xa3\xed\xa0\x80",
            BAD_FRAME,
        ),
        invalid(
            "invalid-utf8-in-key",
            "A map key that is not valid UTF-8.",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("ping") + b"\xa2\xff\xfe" + pack(1),
            BAD_FRAME,
        ),
        invalid(
            "duplicate-key",
            "A received with seq twice (1, then 2); msgpack libraries differ on which wins.",
            CLIENT,
            bytes([0x83])
            + pack("type")
            + pack("received")
            + pack("seq")
            + pack(1)
            + pack("seq")
            + pack(2),
            BAD_FRAME,
        ),
        invalid(
            "duplicate-type",
            "A map with type twice: ping, then pong.",
            CLIENT,
            bytes([0x82]) + pack("type") + pack("ping") + pack("type") + pack("pong"),
            BAD_FRAME,
        ),
        invalid(
            "duplicate-key-nested",
            "A hello whose resume map has seq twice.",
            CLIENT,
            bytes([0x83])
            + pack("type")
            + pack("hello")
            + pack("token")
            + pack(TOKEN)
            + pack("resume")
            + bytes([0x83])
            + pack("seq")
            + pack(3)
            + pack("seq")
            + pack(4)
            + pack("epoch")
            + pack(EPOCH),
            BAD_FRAME,
        ),
        invalid(
            "map-key-integer",
            "A ping with an extra entry whose key is the integer 1.",
            CLIENT,
            {"type": "ping", 1: "one"},
            BAD_FRAME,
        ),
        invalid(
            "map-key-nil",
            "A ping with an extra entry whose key is nil.",
            CLIENT,
            {"type": "ping", None: 0},
            BAD_FRAME,
        ),
        invalid(
            "map-key-binary",
            "A ping whose t key is msgpack binary, not a string; protocol v1 map keys are "
            "strings only.",
            CLIENT,
            {"type": "ping", b"t": 5},
            BAD_FRAME,
        ),
        invalid(
            "ext-type",
            "A ping with an ignored field holding msgpack extension type 5.",
            CLIENT,
            {"type": "ping", "x": umsgpack.Ext(5, b"ab")},
            BAD_FRAME,
        ),
        invalid(
            "ext-timestamp-in-ignored-field",
            "A ping with an ignored field holding a msgpack timestamp (extension type -1); "
            "protocol v1 uses no extension types, the predefined timestamp included.",
            CLIENT,
            {"type": "ping", "x": umsgpack.Ext(-1, b"\x69\x23\x7a\x00")},
            BAD_FRAME,
        ),
        invalid(
            "ext-timestamp-as-value",
            "A ping whose t is a msgpack timestamp (extension type -1) instead of an integer.",
            CLIENT,
            {"type": "ping", "t": umsgpack.Ext(-1, b"\x69\x23\x7a\x00")},
            BAD_FRAME,
        ),
        invalid(
            "nested-20-levels",
            "A ping whose ignored field nests 20 arrays: deeper than 16 levels.",
            CLIENT,
            {"type": "ping", "x": nested_arrays(20)},
            BAD_FRAME,
        ),
        invalid(
            "nested-17-levels",
            "The frame's map plus 16 nested arrays: one level deeper than the 16 allowed.",
            CLIENT,
            {"type": "ping", "x": nested_arrays(16)},
            BAD_FRAME,
        ),
        invalid(
            "oversize-frame",
            "A ping of 8193 bytes (a huge ignored field): one byte over the default "
            "max_frame_bytes of 8192." + " Invalid only under the default limits.",
            CLIENT,
            _oversize_ping(),
            TOO_LARGE,
        ),
        invalid(
            "oversize-garbage",
            "8193 bytes of 0xc1: the size is checked before msgpack is parsed."
            + " Invalid only under the default limits.",
            CLIENT,
            b"\xc1" * 8193,
            TOO_LARGE,
        ),
    ]


def _invalid_frame_type() -> list[Vector]:
    return [
        invalid("missing-type", "A map without type.", CLIENT, {"t": 5}, BAD_FRAME, field="type"),
        invalid(
            "missing-type-from-hub",
            "A hub map without type.",
            HUB,
            {"code": "internal", "message": "x"},
            BAD_FRAME,
            field="type",
        ),
        invalid(
            "type-integer", "type is an integer.", CLIENT, {"type": 1}, BAD_FRAME, field="type"
        ),
        invalid("type-nil", "type is nil.", CLIENT, {"type": None}, BAD_FRAME, field="type"),
        invalid(
            "type-binary",
            "type is msgpack binary holding the bytes of ping, not a string.",
            CLIENT,
            {"type": b"ping"},
            BAD_FRAME,
            field="type",
        ),
        invalid(
            "unknown-type",
            "A frame type protocol v1 does not have.",
            CLIENT,
            {"type": "subscribe", "id": "c-01JDA91D3E4F"},
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "unknown-type-case",
            "Frame types are case-sensitive: Ping is not ping.",
            CLIENT,
            {"type": "Ping"},
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "welcome-from-client",
            "welcome is a hub frame; a client may not send it.",
            CLIENT,
            welcome_map(),
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "event-from-client",
            "event is a hub frame; a client may not send it.",
            CLIENT,
            {"type": "event", **SPACE_EVENT},
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "hello-from-hub",
            "hello is a client frame; a hub may not send it.",
            HUB,
            {"type": "hello", "token": TOKEN},
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "signal-from-hub",
            "signal is a client frame; the hub sends stored signals as event frames.",
            HUB,
            _signal("check_in"),
            UNKNOWN_TYPE,
            field="type",
        ),
        invalid(
            "received-from-hub",
            "received is a client frame.",
            HUB,
            {"type": "received", "seq": 3},
            UNKNOWN_TYPE,
            field="type",
        ),
    ]


def _invalid_signals() -> list[Vector]:
    return [
        invalid(
            "signal-unknown-kind",
            "A signal kind protocol v1 does not have.",
            CLIENT,
            _signal("hug_now"),
            UNKNOWN_KIND,
            field="kind",
        ),
        invalid(
            "signal-hub-event-kind",
            "space_ended is an event kind the hub creates, not a signal a client sends.",
            CLIENT,
            _signal("space_ended", target=55, until=T0),
            UNKNOWN_KIND,
            field="kind",
        ),
        invalid(
            "signal-kind-integer",
            "A signal whose kind is an integer.",
            CLIENT,
            _signal(3),
            INVALID_FIELD,
            field="kind",
        ),
        invalid(
            "signal-kind-not-a-name",
            "A signal kind that is not a name ([a-z][a-z0-9_]{0,31}), so not even an unknown kind.",
            CLIENT,
            _signal("Need-Space"),
            INVALID_FIELD,
            field="kind",
        ),
        invalid(
            "signal-missing-kind",
            "A signal without kind.",
            CLIENT,
            {"type": "signal", "id": "c-01JDA90A1B2C"},
            INVALID_FIELD,
            field="kind",
        ),
        invalid(
            "signal-missing-id",
            "A signal without its client message id.",
            CLIENT,
            {"type": "signal", "kind": "check_in"},
            INVALID_FIELD,
            field="id",
        ),
        invalid(
            "signal-id-with-spaces",
            "A client message id containing spaces.",
            CLIENT,
            {"type": "signal", "id": "my check in", "kind": "check_in"},
            INVALID_FIELD,
            field="id",
        ),
        invalid(
            "signal-id-65-chars",
            "A client message id of 65 characters, one over the maximum of 64.",
            CLIENT,
            {"type": "signal", "id": "c" * 65, "kind": "check_in"},
            INVALID_FIELD,
            field="id",
        ),
        invalid(
            "signal-id-empty",
            "An empty client message id.",
            CLIENT,
            {"type": "signal", "id": "", "kind": "check_in"},
            INVALID_FIELD,
            field="id",
        ),
        invalid(
            "signal-id-non-ascii",
            "A client message id with a non-ASCII character.",
            CLIENT,
            {"type": "signal", "id": "c-grüße", "kind": "check_in"},
            INVALID_FIELD,
            field="id",
        ),
        invalid(
            "need_space-missing-duration",
            "A need_space without duration.",
            CLIENT,
            _signal("need_space", note=WALK_NOTE),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-string",
            "duration is the string 1800, not an integer.",
            CLIENT,
            _signal("need_space", duration="1800"),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-float",
            "duration is the float64 1800.0; protocol v1 has no floats.",
            CLIENT,
            _signal("need_space", duration=1800.0),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-zero",
            "duration 0: invalid under any limits, a space lasts at least 1 second.",
            CLIENT,
            _signal("need_space", duration=0),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-59",
            "duration 59 seconds, one under the minimum." + DEFAULT_ONLY,
            CLIENT,
            _signal("need_space", duration=59),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-86401",
            "duration 86401 seconds, one over the maximum." + DEFAULT_ONLY,
            CLIENT,
            _signal("need_space", duration=86_401),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "need_space-duration-negative",
            "duration -1800: negative, invalid under any limits.",
            CLIENT,
            _signal("need_space", duration=-1800),
            INVALID_FIELD,
            field="duration",
        ),
        invalid(
            "check_in-note-integer",
            "A note that is an integer.",
            CLIENT,
            _signal("check_in", note=42),
            INVALID_FIELD,
            field="note",
        ),
        invalid(
            "check_in-note-281-code-points",
            "A note of 281 ASCII characters, one over the maximum of 280.",
            CLIENT,
            _signal("check_in", note="x" * 281),
            TOO_LARGE,
            field="note",
        ),
        invalid(
            "need_space-note-281-multibyte",
            "A note of 281 code points of 2- and 4-byte UTF-8 (\u00fc and \U0001f33f): "
            "too long in code points although well within the frame size.",
            CLIENT,
            _signal("need_space", duration=600, note="ü🌿" * 140 + "ü"),
            TOO_LARGE,
            field="note",
        ),
        invalid(
            "ack-missing-target",
            "An ack without target.",
            CLIENT,
            _signal("ack", reply="Ich höre dich"),
            INVALID_FIELD,
            field="target",
        ),
        invalid(
            "ack-target-zero",
            "An ack of seq 0; sequence numbers start at 1.",
            CLIENT,
            _signal("ack", target=0),
            INVALID_FIELD,
            field="target",
        ),
        invalid(
            "ack-reply-281-code-points",
            "A reply of 281 code points.",
            CLIENT,
            _signal("ack", target=53, reply="ö" * 281),
            TOO_LARGE,
            field="reply",
        ),
        invalid(
            "feeling_disconnected-wish-not-a-token",
            "A wish that is not a lowercase token.",
            CLIENT,
            _signal("feeling_disconnected", wish="Quality Time"),
            INVALID_FIELD,
            field="wish",
        ),
    ]


def _invalid_other_client_frames() -> list[Vector]:
    return [
        invalid(
            "hello-missing-token",
            "A hello without token.",
            CLIENT,
            {"type": "hello", "agent": "heartline-web/0.9.0"},
            INVALID_FIELD,
            field="token",
        ),
        invalid(
            "hello-token-257-chars",
            "A token of 257 characters, one over its maximum of 256.",
            CLIENT,
            {"type": "hello", "token": "t" * 257},
            INVALID_FIELD,
            field="token",
        ),
        invalid(
            "hello-token-binary",
            "A token sent as msgpack binary instead of a string.",
            CLIENT,
            {"type": "hello", "token": TOKEN.encode()},
            INVALID_FIELD,
            field="token",
        ),
        invalid(
            "hello-resume-not-a-map",
            "resume is an integer, not a map.",
            CLIENT,
            {"type": "hello", "token": TOKEN, "resume": 41},
            INVALID_FIELD,
            field="resume",
        ),
        invalid(
            "hello-resume-seq-negative",
            "resume.seq is -1.",
            CLIENT,
            {"type": "hello", "token": TOKEN, "resume": {"seq": -1, "epoch": EPOCH}},
            INVALID_FIELD,
            field="resume.seq",
        ),
        invalid(
            "hello-agent-65-chars",
            "An agent string of 65 characters, one over its maximum of 64.",
            CLIENT,
            {"type": "hello", "token": TOKEN, "agent": "a" * 65},
            TOO_LARGE,
            field="agent",
        ),
        invalid(
            "received-seq-bool",
            "seq is the boolean true, not an integer.",
            CLIENT,
            {"type": "received", "seq": True},
            INVALID_FIELD,
            field="seq",
        ),
        invalid(
            "received-seq-negative",
            "seq is -5.",
            CLIENT,
            {"type": "received", "seq": -5},
            INVALID_FIELD,
            field="seq",
        ),
        invalid(
            "received-seq-uint64-max",
            "seq is 2**64-1, the largest msgpack integer.",
            CLIENT,
            {"type": "received", "seq": 2**64 - 1},
            INVALID_FIELD,
            field="seq",
        ),
        invalid(
            "received-seq-2-pow-53",
            "seq is 2**53, one past the largest allowed integer 2**53-1.",
            CLIENT,
            {"type": "received", "seq": 2**53},
            INVALID_FIELD,
            field="seq",
        ),
        invalid(
            "sync-after-negative",
            "after is -1.",
            CLIENT,
            {"type": "sync", "id": "s-01JDA92G5H6J", "after": -1},
            INVALID_FIELD,
            field="after",
        ),
        invalid(
            "sync-limit-1001",
            "limit is 1001, one over its maximum of 1000.",
            CLIENT,
            {"type": "sync", "id": "s-01JDA92K7M8N", "after": 0, "limit": 1001},
            INVALID_FIELD,
            field="limit",
        ),
        invalid(
            "ping-t-int64-min",
            "t is -2**63.",
            CLIENT,
            {"type": "ping", "t": -(2**63)},
            INVALID_FIELD,
            field="t",
        ),
    ]


def _invalid_hub_frames() -> list[Vector]:
    return [
        invalid(
            "welcome-state-not-a-map",
            "A welcome whose state is an array.",
            HUB,
            welcome_map(state=[57]),
            INVALID_FIELD,
            field="state",
        ),
        invalid(
            "welcome-limits-signal_rate-zero",
            "A welcome announcing a signal_rate of 0; every limit is at least 1.",
            HUB,
            welcome_map(limits=DEFAULT_LIMITS_MAP | {"signal_rate": 0}),
            INVALID_FIELD,
            field="limits.signal_rate",
        ),
        invalid(
            "welcome-heartbeat-zero",
            "A welcome with heartbeat_ms 0.",
            HUB,
            welcome_map(heartbeat_ms=0),
            INVALID_FIELD,
            field="heartbeat_ms",
        ),
        invalid(
            "welcome-member-status-unknown",
            "A member status v1 does not have (new statuses need a new protocol version).",
            HUB,
            welcome_map(
                state={
                    "version": 1,
                    "members": [
                        {"id": MEMBER_A, "status": "asleep", "online": True, "received": 0}
                    ],
                    "bids": [],
                }
            ),
            INVALID_FIELD,
            field="state.members[0].status",
        ),
        invalid(
            "event-seq-zero",
            "An event with seq 0; sequence numbers start at 1.",
            HUB,
            {"type": "event", **SPACE_EVENT, "seq": 0},
            INVALID_FIELD,
            field="seq",
        ),
        invalid(
            "event-at-2-pow-53",
            "An event whose server time is 2**53.",
            HUB,
            {"type": "event", **SPACE_EVENT, "at": 2**53},
            INVALID_FIELD,
            field="at",
        ),
        invalid(
            "event-kind-not-a-token",
            "An event kind that is not a lowercase token, so not even an unknown kind.",
            HUB,
            {"type": "event", **SPACE_EVENT, "kind": "Need Space"},
            INVALID_FIELD,
            field="kind",
        ),
        invalid(
            "event-ack-missing-target",
            "A stored ack event without target.",
            HUB,
            {
                "type": "event",
                "seq": 54,
                "id": "ev_54_Wn6c",
                "at": T0,
                "kind": "ack",
                "member": MEMBER_A,
            },
            INVALID_FIELD,
            field="target",
        ),
        invalid(
            "result-event-not-a-map",
            "A result whose event is a string.",
            HUB,
            {"type": "result", "id": "c-01JDA80D3E4F", "event": "ev_55_r8Tz"},
            INVALID_FIELD,
            field="event",
        ),
        invalid(
            "snapshot-bid-ack-not-a-map",
            "A snapshot whose first bid has an ack that is an integer.",
            HUB,
            {
                "type": "snapshot",
                "epoch": NEW_EPOCH,
                "reason": "history_lost",
                "state": {
                    "version": 54,
                    "members": [],
                    "bids": [
                        {
                            "seq": 53,
                            "kind": "check_in",
                            "member": MEMBER_B,
                            "at": T0,
                            "ack": 54,
                        }
                    ],
                },
            },
            INVALID_FIELD,
            field="state.bids[0].ack",
        ),
        invalid(
            "error-missing-code",
            "An error frame without code.",
            HUB,
            {"type": "error", "message": "something went wrong"},
            INVALID_FIELD,
            field="code",
        ),
        invalid(
            "pong-from-hub-without-now",
            "A hub's pong must carry now, the hub's clock (SPEC 4.9).",
            HUB,
            {"type": "pong", "t": 81_234_567},
            INVALID_FIELD,
            field="now",
        ),
        invalid(
            "goaway-reconnect-negative",
            "A goaway with reconnect_in_ms -1.",
            HUB,
            {"type": "goaway", "reason": "shutdown", "reconnect_in_ms": -1},
            INVALID_FIELD,
            field="reconnect_in_ms",
        ),
    ]


def invalid_vectors() -> list[Vector]:
    return [
        *_invalid_msgpack(),
        *_invalid_frame_type(),
        *_invalid_signals(),
        *_invalid_other_client_frames(),
        *_invalid_hub_frames(),
    ]


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _sorted_unique(vectors: list[Vector]) -> list[Vector]:
    names = [vector["name"] for vector in vectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate vector names: {duplicates}")
    return sorted(vectors, key=lambda vector: str(vector["name"]))


def build() -> dict[str, list[Vector]]:
    """Every vector, by file stem (``valid``, ``invalid``), sorted by name."""
    return {
        "valid": _sorted_unique(valid_vectors()),
        "invalid": _sorted_unique(invalid_vectors()),
    }


def document(vectors: list[Vector]) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "vectors": vectors}


def render(vectors: list[Vector]) -> str:
    """The exact text of a vector file."""
    return json.dumps(document(vectors), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for stem, vectors in build().items():
        path = HERE / f"{stem}.json"
        path.write_text(render(vectors), encoding="utf-8")
        print(f"wrote {len(vectors)} vectors to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
