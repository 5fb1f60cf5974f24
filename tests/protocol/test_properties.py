"""Property tests of the codec (SPEC.md 3 and 4), with the strategies of strategies.py.

1. Every valid frame round-trips: decoding its encoding gives an equal frame
   (and re-encoding gives the same bytes).
2. Decoding arbitrary bytes returns a frame or raises ProtocolError, never
   any other exception.
3. The same for the bytes of valid frames with a few bytes mutated.
4. The same for arbitrary msgpack values, and for maps shaped like frames.
5. Whenever decoding succeeds, whatever the input, decoding is stable:
   re-encoding the frame and decoding that gives an equal frame and the same
   bytes again. Checked on every input of 2 to 4, and on valid frames with
   fields dropped, nulled, replaced or added, a third of which still decode.
6. Whenever decoding fails, ``Error.from_exception`` makes a valid ``error``
   frame of the ProtocolError (one that round-trips), so that a hub can
   always answer a bad frame.
7. A signal's result spliced from its event's frame has exactly the bytes
   of the result encoded whole.

Budget: CI allows a minute for every property test; this file takes about
20 s on a 2-core machine. Each test sets its own example count, and
``deadline=None`` because a shared CI machine makes single examples slow at
random, which is not what these tests are about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from heartline_protocol import (
    CLIENT_FRAMES,
    DEFAULT_LIMITS,
    EVENT_KINDS,
    HUB_FRAMES,
    SIGNAL_KINDS,
    ClientFrame,
    Error,
    ErrorCode,
    Event,
    Frame,
    HubFrame,
    Ping,
    Pong,
    ProtocolError,
    Result,
    decode_from_client,
    decode_from_hub,
    encode,
    encode_pong,
    encode_signal_result,
)
from tests.protocol.strategies import (
    CLIENT_FRAME_STRATEGIES,
    CLIENT_SIGNAL_BODIES,
    EVENT_BODIES,
    HUB_FRAME_STRATEGIES,
    client_frames,
    events,
    frame_shaped_maps,
    hub_frames,
    ids,
    ints,
    msgpack_values,
    mutated_encodings,
    perturbed_frames,
)

Decoder = Callable[[bytes], Frame]
DECODERS: dict[str, Decoder] = {"client": decode_from_client, "hub": decode_from_hub}

ROUND_TRIP_EXAMPLES = 150
"""Per frame type: 6 client and 8 hub frame types, 2100 frames in all."""
BYTES_EXAMPLES = 2000
MUTATED_EXAMPLES = 750
"""For client frames and again for hub frames."""
MSGPACK_EXAMPLES = 500
"""For arbitrary values and again for frame-shaped maps."""


def attempt(decode: Decoder, data: bytes) -> Frame | ProtocolError:
    """The decoded frame, or the ProtocolError; any other exception propagates."""
    try:
        return decode(data)
    except ProtocolError as error:
        return error


def decode_checked(sender: str, data: bytes) -> Frame | ProtocolError:
    """Decode ``data`` as sent by ``sender`` and check properties 2 to 6.

    Returns the frame, or the ProtocolError, whose code must be one of the
    stable codes. Any other exception fails the test. When decoding
    succeeds, decoding must be stable.
    """
    decode = DECODERS[sender]
    result = attempt(decode, data)
    if isinstance(result, ProtocolError):
        assert isinstance(result.code, ErrorCode)
        event(f"{sender}: {result.code.value}")
        # 6. The hub can always tell the client why: the error makes a valid frame.
        reply = Error.from_exception(result)
        assert decode_from_hub(encode(reply)) == reply
        return result
    event(f"{sender}: decoded {result.type}")
    encoded = encode(result)
    again = decode(encoded)
    assert again == result
    assert type(again) is type(result)
    # Equal bytes also cover what == does not compare (UnknownEvent.fields).
    assert encode(again) == encoded
    return result


def test_the_strategies_cover_every_frame_type_and_kind() -> None:
    assert CLIENT_FRAME_STRATEGIES.keys() == CLIENT_FRAMES.keys()
    assert HUB_FRAME_STRATEGIES.keys() == HUB_FRAMES.keys()
    assert CLIENT_SIGNAL_BODIES.keys() == SIGNAL_KINDS.keys()
    assert EVENT_BODIES.keys() == EVENT_KINDS.keys()


# --- 1. Round trips ------------------------------------------------------------


@pytest.mark.parametrize("frame_type", sorted(CLIENT_FRAME_STRATEGIES))
@settings(max_examples=ROUND_TRIP_EXAMPLES, deadline=None)
@given(data=st.data())
def test_every_client_frame_round_trips(frame_type: str, data: st.DataObject) -> None:
    frame: ClientFrame = data.draw(CLIENT_FRAME_STRATEGIES[frame_type], label="frame")
    encoded = encode(frame)
    assert len(encoded) <= DEFAULT_LIMITS.max_frame_bytes
    decoded = decode_from_client(encoded)
    assert decoded == frame
    assert type(decoded) is type(frame)
    assert encode(decoded) == encoded


@pytest.mark.parametrize("frame_type", sorted(HUB_FRAME_STRATEGIES))
@settings(max_examples=ROUND_TRIP_EXAMPLES, deadline=None)
@given(data=st.data())
def test_every_hub_frame_round_trips(frame_type: str, data: st.DataObject) -> None:
    frame: HubFrame = data.draw(HUB_FRAME_STRATEGIES[frame_type], label="frame")
    encoded = encode(frame)
    decoded = decode_from_hub(encoded)
    assert decoded == frame
    assert type(decoded) is type(frame)
    assert encode(decoded) == encoded


# --- 2 to 5. Only ProtocolError escapes, and what decodes is stable --------------


@settings(max_examples=BYTES_EXAMPLES, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    decode_checked("client", data)
    decode_checked("hub", data)


@settings(max_examples=MUTATED_EXAMPLES, deadline=None)
@given(data=mutated_encodings(client_frames))
def test_mutated_client_frames_decode_or_raise_protocol_error(data: bytes) -> None:
    decode_checked("client", data)
    decode_checked("hub", data)


@settings(max_examples=MUTATED_EXAMPLES, deadline=None)
@given(data=mutated_encodings(hub_frames))
def test_mutated_hub_frames_decode_or_raise_protocol_error(data: bytes) -> None:
    decode_checked("hub", data)
    decode_checked("client", data)


@settings(max_examples=MSGPACK_EXAMPLES, deadline=None)
@given(value=msgpack_values)
def test_arbitrary_msgpack_values_decode_or_raise_protocol_error(value: Any) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    decode_checked("client", data)
    decode_checked("hub", data)


@settings(max_examples=MSGPACK_EXAMPLES, deadline=None)
@given(value=frame_shaped_maps())
def test_frame_shaped_maps_decode_or_raise_protocol_error(value: dict[Any, Any]) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    decode_checked("client", data)
    decode_checked("hub", data)


PERTURBED_EXAMPLES = 50
"""Per frame type; about a third of the perturbed frames still decode."""


@pytest.mark.parametrize("frame_type", sorted(CLIENT_FRAME_STRATEGIES))
@settings(max_examples=PERTURBED_EXAMPLES, deadline=None)
@given(data=st.data())
def test_perturbed_client_frames_decode_stably(frame_type: str, data: st.DataObject) -> None:
    source = CLIENT_FRAME_STRATEGIES[frame_type]
    decode_checked("client", data.draw(perturbed_frames(source), label="bytes"))


@pytest.mark.parametrize("frame_type", sorted(HUB_FRAME_STRATEGIES))
@settings(max_examples=PERTURBED_EXAMPLES, deadline=None)
@given(data=st.data())
def test_perturbed_hub_frames_decode_stably(frame_type: str, data: st.DataObject) -> None:
    source = HUB_FRAME_STRATEGIES[frame_type]
    decode_checked("hub", data.draw(perturbed_frames(source), label="bytes"))


@settings(max_examples=ROUND_TRIP_EXAMPLES, deadline=None)
@given(event=events, client_id=ids())
def test_a_result_spliced_from_its_event_frame_is_the_result_encoded_whole(
    event: Event, client_id: str
) -> None:
    spliced = encode_signal_result(client_id, encode(event))
    assert spliced == encode(Result(id=client_id, event=event))
    assert decode_from_hub(spliced) == Result(id=client_id, event=event)


@given(t=st.none() | ints(), now=ints())
def test_a_pong_packed_directly_is_the_pong_encoded_whole(t: int | None, now: int) -> None:
    assert encode_pong(t, now) == encode(Pong(t=t, now=now))
    assert decode_from_hub(encode_pong(t, now)) == Pong(t=t, now=now)


HEARTBEAT_FRAMES = st.sampled_from([Ping, Pong])


@settings(max_examples=BYTES_EXAMPLES)
@given(
    frame_class=HEARTBEAT_FRAMES,
    tail=st.binary(max_size=12) | st.builds(msgpack.packb, msgpack_values),
)
def test_what_starts_like_a_ping_or_pong_is_one_only_if_it_is_one(
    frame_class: type[Ping] | type[Pong], tail: bytes
) -> None:
    """The hub reads a usual ping or pong without the general decoder (codec.py):
    whatever follows its head, a frame comes back only if the tail is one valid
    ``t`` (an integer in range, or nil), and anything else is a ProtocolError
    as before."""
    data = encode(frame_class(t=0))[:-1] + tail
    try:
        frame = decode_from_client(data)
    except ProtocolError:
        event("refused")
        return
    assert frame == frame_class(t=msgpack.unpackb(tail))


@given(frame_class=HEARTBEAT_FRAMES, t=st.none() | ints())
def test_every_valid_ping_and_client_pong_decodes_to_itself(
    frame_class: type[Ping] | type[Pong], t: int | None
) -> None:
    assert decode_from_client(encode(frame_class(t=t))) == frame_class(t=t)
