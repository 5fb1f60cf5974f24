"""Hypothesis strategies for protocol v1: valid frames, and bytes that are almost frames.

The first half builds every frame type with random values that the frame
constructors accept (so every drawn frame is a valid frame). The limits come
from the protocol package itself (fields.py, frames.py, limits.py) and the
``lo=`` bounds of each class's ``__post_init__``:

* text: any Unicode except surrogates (category Cs, which UTF-8 cannot carry),
  up to the field's limit in code points; a long branch reaches the limit;
* ids: printable ASCII without spaces, 1 to 64 characters (256 for a token);
* tokens (wish, reason, code): ``[a-z][a-z0-9_]{0,31}``;
* integers: ``lo`` (0 or 1) up to ``MAX_INT`` (2**53 - 1).

Client frames stay far below ``DEFAULT_LIMITS.max_frame_bytes``: the largest
one, a signal with a 280 code point note, is about 1.2 KiB.

The second half builds input for the robustness properties: arbitrary
msgpack values, maps shaped like frames, valid frames mutated byte by byte,
and wire maps of valid frames with fields dropped, nulled, replaced or added.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from heartline_protocol import (
    CLIENT_FRAMES,
    DEFAULT_LIMITS,
    EVENT_KINDS,
    HUB_FRAMES,
    MAX_ID_CHARS,
    MAX_INT,
    MAX_NOTE_CHARS,
    MAX_SYNC_LIMIT,
    Ack,
    Bid,
    BidAck,
    CheckIn,
    ClientFrame,
    Delivered,
    Error,
    ErrorCode,
    Event,
    EventBody,
    FeelingDisconnected,
    Frame,
    Goaway,
    Hello,
    HubEventKind,
    HubFrame,
    ImBack,
    Joined,
    Limits,
    MemberState,
    MemberStatus,
    NeedSpace,
    Ping,
    Pong,
    Position,
    Presence,
    Received,
    Result,
    Signal,
    SignalBody,
    SignalKind,
    Snapshot,
    SpaceEnded,
    SpaceEnding,
    State,
    Sync,
    UnknownEvent,
    WebhookDisabled,
    Welcome,
    Wish,
    encode,
)

__all__ = [
    "CLIENT_FRAME_STRATEGIES",
    "CLIENT_SIGNAL_BODIES",
    "EVENT_BODIES",
    "FIELD_NAMES",
    "HUB_FRAME_STRATEGIES",
    "MAX_AGENT_CHARS",
    "MAX_ERROR_FIELD_CHARS",
    "MAX_MESSAGE_CHARS",
    "MAX_TOKEN_CHARS",
    "acks",
    "bids",
    "client_frames",
    "errors",
    "events",
    "frame_shaped_maps",
    "frames",
    "goaways",
    "hellos",
    "hub_frames",
    "hub_pongs",
    "ids",
    "ints",
    "limits",
    "member_states",
    "msgpack_values",
    "mutated_encodings",
    "notes",
    "optional",
    "perturbed_frames",
    "pings",
    "plausible_values",
    "pongs",
    "positions",
    "receiveds",
    "results",
    "signals",
    "snapshots",
    "states",
    "syncs",
    "texts",
    "tokens",
    "unknown_event_bodies",
    "welcomes",
    "wishes",
]

T = TypeVar("T")

# Limits that the protocol package keeps as literals in frames.py.
MAX_TOKEN_CHARS = 256
"""``hello.token``."""
MAX_AGENT_CHARS = 64
"""``hello.agent``."""
MAX_MESSAGE_CHARS = 1024
"""``error.message``."""
MAX_ERROR_FIELD_CHARS = 128
"""``error.field``."""


# --- Values ------------------------------------------------------------------

_UNICODE = st.characters(exclude_categories=["Cs"])
_PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_TOKEN_FIRST = st.sampled_from(string.ascii_lowercase)
_TOKEN_REST = st.text(string.ascii_lowercase + string.digits + "_", max_size=31)


def optional(strategy: SearchStrategy[T]) -> SearchStrategy[T | None]:
    """An optional field: absent (None) or a value."""
    return st.none() | strategy


def _up_to(alphabet: SearchStrategy[str], min_chars: int, max_chars: int) -> SearchStrategy[str]:
    """Text of ``min_chars..max_chars`` characters that also reaches the limit.

    Hypothesis keeps most strings short; the second branch makes strings of
    (nearly) the largest allowed length as common as short ones.
    """
    near_limit = max(min_chars, max_chars - 3)
    return st.text(alphabet, min_size=min_chars, max_size=max_chars) | st.text(
        alphabet, min_size=near_limit, max_size=max_chars
    )


def texts(max_chars: int = MAX_NOTE_CHARS) -> SearchStrategy[str]:
    """Free text: any Unicode but surrogates, at most ``max_chars`` code points."""
    return _up_to(_UNICODE, 0, max_chars)


def ids(max_chars: int = MAX_ID_CHARS) -> SearchStrategy[str]:
    """An id: printable ASCII without spaces, 1 to ``max_chars`` characters."""
    return _up_to(_PRINTABLE_ASCII, 1, max_chars)


def ints(lo: int = 0, hi: int = MAX_INT) -> SearchStrategy[int]:
    """An integer field of ``lo..hi`` (``MAX_INT`` is 2**53 - 1)."""
    return st.integers(min_value=lo, max_value=hi)


tokens: SearchStrategy[str] = st.builds(str.__add__, _TOKEN_FIRST, _TOKEN_REST)
"""A lowercase name: ``[a-z][a-z0-9_]{0,31}``."""

notes = optional(texts())
wishes: SearchStrategy[str] = st.sampled_from(Wish) | tokens
"""A wish every v1 client knows, or any other well-formed one (SPEC.md 5.3)."""


# --- Building blocks -----------------------------------------------------------

positions: SearchStrategy[Position] = st.builds(Position, seq=ints(), epoch=ids())


@st.composite
def limits(draw: st.DrawFn) -> Limits:
    """Any limits a hub could announce: every value >= 1 and min <= max space."""
    low, high = sorted(draw(st.lists(ints(lo=1), min_size=2, max_size=2)))
    return Limits(
        max_frame_bytes=draw(ints(lo=1)),
        min_space_seconds=low,
        max_space_seconds=high,
        space_ending_seconds=draw(ints(lo=1)),
        signal_rate=draw(ints(lo=1)),
        signal_burst=draw(ints(lo=1)),
    )


@st.composite
def member_states(draw: st.DrawFn) -> MemberState:
    """A member; in space or with a check-in due, with the space's end and event."""
    status = draw(st.sampled_from(MemberStatus))
    in_space = status is not MemberStatus.AVAILABLE
    return MemberState(
        id=draw(ids()),
        status=status,
        since=draw(optional(ints())),
        until=draw(ints() if in_space else optional(ints())),
        note=draw(notes),
        space_seq=draw(ints(lo=1) if in_space else optional(ints(lo=1))),
        online=draw(st.booleans()),
        last_seen=draw(optional(ints())),
        received=draw(ints()),
    )


acks: SearchStrategy[BidAck] = st.builds(
    BidAck, seq=ints(lo=1), member=ids(), at=ints(), reply=notes
)

bids: SearchStrategy[Bid] = st.builds(
    Bid,
    seq=ints(lo=1),
    kind=st.sampled_from([SignalKind.FEELING_DISCONNECTED, SignalKind.CHECK_IN]) | tokens,
    member=ids(),
    at=ints(),
    note=notes,
    wish=optional(wishes),
    ack=optional(acks),
)

states: SearchStrategy[State] = st.builds(
    State,
    version=ints(),
    members=st.lists(member_states(), max_size=2).map(tuple),
    bids=st.lists(bids, max_size=5).map(tuple),
)


# --- Signal and event bodies -------------------------------------------------

CLIENT_SIGNAL_BODIES: dict[str, SearchStrategy[SignalBody]] = {
    SignalKind.NEED_SPACE: st.builds(
        NeedSpace,
        duration=ints(DEFAULT_LIMITS.min_space_seconds, DEFAULT_LIMITS.max_space_seconds),
        note=notes,
    ),
    SignalKind.IM_BACK: st.builds(ImBack, note=notes),
    SignalKind.FEELING_DISCONNECTED: st.builds(
        FeelingDisconnected, note=notes, wish=optional(wishes)
    ),
    SignalKind.CHECK_IN: st.builds(CheckIn, note=notes),
    SignalKind.ACK: st.builds(Ack, target=ints(lo=1), reply=notes),
}
"""Signal bodies a client may send: a space within the default limits, no ``until``."""

EVENT_BODIES: dict[str, SearchStrategy[EventBody]] = {
    **CLIENT_SIGNAL_BODIES,
    # The hub does not check durations against limits, and it always sets ``until``.
    SignalKind.NEED_SPACE: st.builds(NeedSpace, duration=ints(lo=1), note=notes, until=ints()),
    HubEventKind.SPACE_ENDING: st.builds(SpaceEnding, target=ints(lo=1), until=ints()),
    HubEventKind.SPACE_ENDED: st.builds(SpaceEnded, target=ints(lo=1), until=ints()),
    HubEventKind.DELIVERED: st.builds(Delivered, through=ints(lo=1)),
    HubEventKind.PRESENCE: st.builds(Presence, online=st.booleans()),
    HubEventKind.JOINED: st.builds(Joined),
    HubEventKind.WEBHOOK_DISABLED: st.builds(WebhookDisabled, webhook=ids()),
}
"""One strategy per event kind of protocol v1 (every key of ``EVENT_KINDS``)."""

_ENVELOPE = frozenset({"type", "seq", "id", "at", "kind", "member", "device"})
_json_scalars = st.none() | st.booleans() | ints() | texts(20)
_json_containers = st.lists(_json_scalars, max_size=3) | st.dictionaries(
    texts(8), _json_scalars, max_size=3
)
_json_values: SearchStrategy[Any] = (
    _json_scalars | _json_containers | st.lists(_json_containers, max_size=2)
)
"""At most two containers deep, far within the codec's nesting limit (16)."""

unknown_event_bodies: SearchStrategy[UnknownEvent] = st.builds(
    UnknownEvent,
    name=tokens.filter(lambda name: name not in EVENT_KINDS),
    fields=st.dictionaries(texts(12).filter(lambda key: key not in _ENVELOPE), _json_values),
)
"""An event kind from a newer hub, with fields a v1 client keeps uninterpreted."""


# --- Frames --------------------------------------------------------------------

hellos: SearchStrategy[Hello] = st.builds(
    Hello,
    token=ids(MAX_TOKEN_CHARS),
    resume=optional(positions),
    agent=optional(texts(MAX_AGENT_CHARS)),
)
signals: SearchStrategy[Signal] = st.builds(
    Signal, id=ids(), body=st.one_of(*CLIENT_SIGNAL_BODIES.values())
)
receiveds: SearchStrategy[Received] = st.builds(Received, seq=ints(lo=1))
syncs: SearchStrategy[Sync] = st.builds(
    Sync, id=ids(), after=ints(), limit=optional(ints(1, MAX_SYNC_LIMIT))
)
pings: SearchStrategy[Ping] = st.builds(Ping, t=optional(ints()))
pongs: SearchStrategy[Pong] = st.builds(Pong, t=optional(ints()), now=optional(ints()))
"""A client's pong (``now`` is optional, a client may send it)."""
hub_pongs: SearchStrategy[Pong] = st.builds(Pong, t=optional(ints()), now=ints())
"""A hub's pong, which always carries the hub's clock ``now``."""

events: SearchStrategy[Event] = st.builds(
    Event,
    seq=ints(lo=1),
    id=ids(),
    at=ints(),
    member=ids(),
    body=st.one_of(*EVENT_BODIES.values(), unknown_event_bodies),
    device=optional(ids()),
)
welcomes: SearchStrategy[Welcome] = st.builds(
    Welcome,
    pair=ids(),
    member=ids(),
    device=ids(),
    epoch=ids(),
    server_time=ints(),
    heartbeat_ms=ints(lo=1),
    state=states,
    limits=limits(),
    partner=optional(ids()),
    resumed=st.booleans(),
    history_lost=st.booleans(),
)
results: SearchStrategy[Result] = st.builds(Result, id=ids(), event=events) | st.builds(
    Result, id=ids(), last=optional(ints()), more=optional(st.booleans())
)
snapshots: SearchStrategy[Snapshot] = st.builds(Snapshot, epoch=ids(), state=states, reason=tokens)
errors: SearchStrategy[Error] = st.builds(
    Error,
    code=st.sampled_from(ErrorCode) | tokens,
    message=texts(MAX_MESSAGE_CHARS),
    id=optional(ids()),
    field=optional(texts(MAX_ERROR_FIELD_CHARS)),
    retry_after_ms=optional(ints()),
)
goaways: SearchStrategy[Goaway] = st.builds(Goaway, reason=tokens, reconnect_in_ms=optional(ints()))

CLIENT_FRAME_STRATEGIES: dict[str, SearchStrategy[ClientFrame]] = {
    "hello": hellos,
    "signal": signals,
    "received": receiveds,
    "sync": syncs,
    "ping": pings,
    "pong": pongs,
}
"""One strategy per frame type a client sends (every key of ``CLIENT_FRAMES``)."""

HUB_FRAME_STRATEGIES: dict[str, SearchStrategy[HubFrame]] = {
    "welcome": welcomes,
    "result": results,
    "event": events,
    "snapshot": snapshots,
    "error": errors,
    "goaway": goaways,
    "ping": pings,
    "pong": hub_pongs,
}
"""One strategy per frame type a hub sends (every key of ``HUB_FRAMES``)."""

client_frames: SearchStrategy[ClientFrame] = st.one_of(*CLIENT_FRAME_STRATEGIES.values())
hub_frames: SearchStrategy[HubFrame] = st.one_of(*HUB_FRAME_STRATEGIES.values())
frames: SearchStrategy[Frame] = client_frames | hub_frames


# --- Input that is not (quite) a frame -------------------------------------------

FIELD_NAMES: tuple[str, ...] = (
    "type",
    "kind",
    *Limits.__slots__,
    # Every field name of every frame, nested map and body, as on the wire.
    "token",
    "resume",
    "agent",
    "seq",
    "epoch",
    "id",
    "note",
    "duration",
    "until",
    "wish",
    "target",
    "reply",
    "after",
    "limit",
    "t",
    "now",
    "pair",
    "member",
    "partner",
    "device",
    "server_time",
    "heartbeat_ms",
    "resumed",
    "history_lost",
    "limits",
    "state",
    "version",
    "members",
    "bids",
    "status",
    "since",
    "space_seq",
    "online",
    "last_seen",
    "received",
    "ack",
    "at",
    "event",
    "last",
    "more",
    "reason",
    "code",
    "message",
    "field",
    "retry_after_ms",
    "reconnect_in_ms",
    "through",
)
"""Map keys that a frame decoder looks at: random maps with them get further."""

_WORDS: tuple[str, ...] = (
    *CLIENT_FRAMES,
    *HUB_FRAMES,
    *EVENT_KINDS,
    *MemberStatus,
    *Wish,
    "future_kind",
    "Need_Space",
    "",
    "é",
    "with space",
    # Either side of the length limits of ids (64), tokens (32, 256) and text (280).
    "x" * 32,
    "x" * 33,
    "x" * 64,
    "x" * 65,
    "x" * 256,
    "x" * 257,
    "é" * 280,
    "é" * 281,
)
"""String values that a decoder looks up (frame types, kinds, statuses, wishes) and
strings at the length limits."""

_EDGE_INTS = st.sampled_from([0, 1, MAX_INT, MAX_INT + 1, 2**63, 2**64 - 1, -1, -(2**63)])

_msgpack_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_ext_types = st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
_timestamps = st.builds(
    msgpack.Timestamp, st.integers(-(2**40), 2**40), st.integers(0, 999_999_999)
)
_msgpack_scalars: SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | _msgpack_ints
    | st.floats()
    | st.text(_UNICODE, max_size=40)
    | st.binary(max_size=40)
)
_map_keys: SearchStrategy[Any] = (
    st.sampled_from(FIELD_NAMES) | st.text(_UNICODE, max_size=12) | _msgpack_ints | st.binary()
)

msgpack_values: SearchStrategy[Any] = st.recursive(
    _msgpack_scalars | _ext_types | _timestamps,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_map_keys, children, max_size=4)
    ),
    max_leaves=12,
)
"""Any value msgpack can pack: scalars, bytes, extension types, arrays, maps."""


def _nest(depth: int) -> Any:
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


_ordinary_leaves: SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-2, 1001)
    | _EDGE_INTS
    | st.text(_PRINTABLE_ASCII, min_size=1, max_size=8)
    | st.sampled_from(_WORDS)
    | st.floats(allow_nan=False)
)
_hostile_leaves: SearchStrategy[Any] = (
    st.binary(max_size=8) | _ext_types | _timestamps | st.integers(10, 40).map(_nest)
)
"""Leaves that make the whole frame bad (extensions, deep nesting) or a field invalid."""


@st.composite
def _plausible_leaves(draw: st.DrawFn) -> Any:
    # One leaf in 16 is hostile: a frame has several leaves, and one hostile
    # leaf anywhere usually makes the whole frame a bad_frame, which would
    # leave the field checks behind it untested.
    if draw(st.sampled_from(range(16))) == 0:
        return draw(_hostile_leaves)
    return draw(_ordinary_leaves)


plausible_values: SearchStrategy[Any] = st.recursive(
    _plausible_leaves(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES), children, max_size=4)
    ),
    max_leaves=6,
)
"""Values a decoder gets further with: known words and keys, edge integers, deep nesting."""


@st.composite
def frame_shaped_maps(draw: st.DrawFn) -> dict[str, Any]:
    """A map with a frame type and random values under the field names of frames.

    Half the types are frame types of v1; the others are other words a
    decoder knows (kinds, statuses) or ``""``.
    """
    frame_type = draw(st.sampled_from((*CLIENT_FRAMES, *HUB_FRAMES)) | st.sampled_from(_WORDS))
    keys = st.sampled_from(FIELD_NAMES) | st.text(_UNICODE, max_size=12)
    fields = draw(st.dictionaries(keys, plausible_values, max_size=6))
    return {**fields, "type": frame_type}


_MUTATIONS = ("flip", "set", "insert", "delete", "truncate", "duplicate")
_MARKERS = st.sampled_from(
    # nil, never used, false, true, bin8, ext8, float32, uint64, int64,
    # fixext1, fixext8 (timestamp 64), str8, array16/32, map16/32, fixmap,
    # fixarray, fixstr, negative fixint, positive fixint.
    bytes.fromhex("c0 c1 c2 c3 c4 c7 ca cf d3 d4 d7 d9 dc dd de df 8f 9f bf ff 7f")
)


@st.composite
def mutated_encodings(
    draw: st.DrawFn, source: SearchStrategy[Frame] = frames, max_mutations: int = 4
) -> bytes:
    """The bytes of a frame from ``source`` after 1 to ``max_mutations`` random byte edits."""
    data = bytearray(encode(draw(source)))
    for _ in range(draw(st.integers(1, max_mutations))):
        mutation = draw(st.sampled_from(_MUTATIONS))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if mutation == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif mutation == "set" and data:
            data[at] = draw(_MARKERS | st.integers(0, 255))
        elif mutation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif mutation == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        elif mutation == "truncate":
            del data[at:]
        elif mutation == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def _maps_in(value: Any) -> list[dict[Any, Any]]:
    """Every map in a wire value, outermost first."""
    found: list[dict[Any, Any]] = []
    children: Any = ()
    if type(value) is dict:
        found.append(value)
        children = value.values()
    elif type(value) is list:
        children = value
    for child in children:
        found.extend(_maps_in(child))
    return found


Perturbation = Callable[[st.DrawFn, dict[Any, Any], list[Any]], None]
"""Changes ``wire`` in place, touching only its ``keys`` (all keys but the frame type)."""


def _drop(draw: st.DrawFn, wire: dict[Any, Any], keys: list[Any]) -> None:
    if keys:
        del wire[draw(st.sampled_from(keys))]


def _null(draw: st.DrawFn, wire: dict[Any, Any], keys: list[Any]) -> None:
    if keys:
        wire[draw(st.sampled_from(keys))] = None


def _replace(draw: st.DrawFn, wire: dict[Any, Any], keys: list[Any]) -> None:
    if keys:
        wire[draw(st.sampled_from(keys))] = draw(plausible_values)


def _add(draw: st.DrawFn, wire: dict[Any, Any], keys: list[Any]) -> None:
    key = draw(st.sampled_from(FIELD_NAMES) | tokens)
    if key in keys or key not in wire:
        wire[key] = draw(plausible_values)


_PERTURBATIONS: tuple[Perturbation, ...] = (_drop, _null, _replace, _add)


@st.composite
def perturbed_frames(
    draw: st.DrawFn, source: SearchStrategy[Frame] = frames, max_changes: int = 3
) -> bytes:
    """The packed wire map of a frame from ``source``, with fields changed.

    Each change drops a field, sets it to nil, replaces its value or adds a
    field, in any map of the frame (``resume``, ``state.bids[i].ack`` and so
    on) but never the frame's own ``type``. Many results still decode, with
    values at the edge of what is allowed: input for decode stability.
    """
    frame = draw(source)
    wire: dict[Any, Any] = copy.deepcopy({"type": frame.type, **frame.to_map()})
    for _ in range(draw(st.integers(1, max_changes))):
        target = draw(st.sampled_from(_maps_in(wire)))
        # The frame's own type is left alone: without it, nothing else is read.
        keys = [key for key in target if target is not wire or key != "type"]
        change = draw(st.sampled_from(_PERTURBATIONS))
        change(draw, target, keys)
    return msgpack.packb(wire, use_bin_type=True)  # type: ignore[no-any-return]
