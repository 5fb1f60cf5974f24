"""Every refused frame gets one error, the connection stays, and nothing is stored.

SPEC.md 8.1 lists the error codes; 8.2 says a refused frame leaves nothing
behind; 7.1 says how a handshake fails. Each test here provokes one of them
from outside, as a buggy or hostile client would, and checks the ``error``
frame (code, the request's id when it had a readable one, the field, a
message) and the pair's version before and after. ``rate_limited`` is proven
in test_abuse.py and ``unavailable`` in test_redis_outage.py; ``internal``
cannot be provoked from outside.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import msgpack
import pytest

from heartline_protocol import (
    Ack,
    CheckIn,
    CloseCode,
    ErrorCode,
    FeelingDisconnected,
    Hello,
    NeedSpace,
    Ping,
    Presence,
    Received,
    Signal,
    encode,
)
from tests.support.abuse import (
    connect_couple,
    open_socket,
    pack,
    pair_version,
    refused,
    still_open,
    until_closed,
)
from tests.support.couples import Couple, add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


@dataclass
class Online:
    """A couple with both partners connected, and the pair's version once they are."""

    couple: Couple
    a: Device
    b: Device
    version: int


@pytest.fixture
async def online(http: aiohttp.ClientSession, shared_hub: HubProcess) -> Online:
    couple = await pair_up(http, shared_hub.url)
    a, b = await connect_couple(http, shared_hub.ws_url, couple)
    version = await pair_version(a, a.position.seq)
    return Online(couple, a, b, version)


async def assert_nothing_stored(online: Online) -> None:
    """The pair's log did not move: the refused frame left nothing behind (SPEC.md 8.2)."""
    assert await pair_version(online.a, online.version) == online.version
    assert await pair_version(online.b, online.version) == online.version


# bad_frame: the message is not one valid msgpack map.

NOT_A_FRAME: dict[str, bytes | str] = {
    "reserved byte 0xc1": b"\xc1",
    "truncated map": b"\x82\xa4type\xa6signal\xa2id",
    "two values in one message": pack(type="ping") + pack(type="ping"),
    "an array, not a map": msgpack.packb(["signal", "c-1"]),
    "a map without a type": pack(id="c-1", kind="check_in"),
    "a type that is not a string": pack(type=7, id="c-1"),
    "the same key twice": b"\x82\xa4type\xa4ping\xa4type\xa4ping",
    "invalid UTF-8": b"\x81\xa4type\xa2\xff\xfe",
    "a text message": '{"type": "signal", "id": "c-1", "kind": "check_in"}',
}


async def test_a_message_that_is_not_one_msgpack_map_is_a_bad_frame(online: Online) -> None:
    for case, data in NOT_A_FRAME.items():
        error = await refused(online.a, data)
        assert (error.code, error.id) == (ErrorCode.BAD_FRAME, None), case
    await assert_nothing_stored(online)


async def test_a_second_hello_on_an_open_session_is_a_bad_frame(online: Online) -> None:
    for token in (online.couple.a.token, online.couple.b.token):
        error = await refused(online.a, encode(Hello(token=token)))
        assert (error.code, error.id) == (ErrorCode.BAD_FRAME, None)
    await assert_nothing_stored(online)
    signal = await online.a.signal(CheckIn(note="still the same session, still A"))
    assert (signal.member, signal.device) == (online.couple.a.member, online.couple.a.device)


# unknown_type and unknown_kind.


async def test_a_frame_type_a_client_does_not_send_is_unknown_type(online: Online) -> None:
    for frame_type in ("teleport", "welcome", "event", "error", "snapshot"):
        request_id = f"c-type-{frame_type}"
        error = await refused(online.a, pack(type=frame_type, id=request_id))
        assert (error.code, error.id, error.field) == (ErrorCode.UNKNOWN_TYPE, request_id, "type")
    await assert_nothing_stored(online)


async def test_a_signal_kind_of_a_newer_version_is_unknown_kind_and_the_session_goes_on(
    online: Online,
) -> None:
    error = await refused(online.a, pack(type="signal", id="c-kind-1", kind="hold_hands"))
    assert (error.code, error.id, error.field) == (ErrorCode.UNKNOWN_KIND, "c-kind-1", "kind")
    await assert_nothing_stored(online)

    await still_open(online.a)
    stored = await online.a.signal(CheckIn(note="how are you?"), id="c-kind-2")
    assert stored.seq == online.version + 1
    assert (await online.b.next_event("check_in")).seq == stored.seq


# invalid_field: a field missing, of the wrong type, or out of range.

INVALID_SIGNALS: dict[str, tuple[dict[str, object], str, str | None]] = {
    "duration above the hub's longest space": (
        {"id": "c-f-1", "kind": "need_space", "duration": 86_401},
        "duration",
        "c-f-1",
    ),
    "duration of zero": ({"id": "c-f-2", "kind": "need_space", "duration": 0}, "duration", "c-f-2"),
    "duration as text": (
        {"id": "c-f-3", "kind": "need_space", "duration": "600"},
        "duration",
        "c-f-3",
    ),
    "duration missing": ({"id": "c-f-4", "kind": "need_space"}, "duration", "c-f-4"),
    "duration beyond 2^53 - 1": (
        {"id": "c-f-5", "kind": "need_space", "duration": 2**53},
        "duration",
        "c-f-5",
    ),
    "ack target of zero": ({"id": "c-f-6", "kind": "ack", "target": 0}, "target", "c-f-6"),
    "wish that is not a name": (
        {"id": "c-f-7", "kind": "feeling_disconnected", "wish": "Hug Me"},
        "wish",
        "c-f-7",
    ),
    "no client message id": ({"kind": "check_in"}, "id", None),
    "client message id with a space": ({"id": "c 1", "kind": "check_in"}, "id", None),
    "client message id of 65 characters": ({"id": "c" * 65, "kind": "check_in"}, "id", None),
}


async def test_a_signal_with_a_bad_field_is_invalid_field_naming_it(online: Online) -> None:
    for case, (fields, field, request_id) in INVALID_SIGNALS.items():
        error = await refused(online.a, pack(type="signal", **fields))
        assert (error.code, error.field, error.id) == (
            ErrorCode.INVALID_FIELD,
            field,
            request_id,
        ), case
        await assert_nothing_stored(online)


async def test_a_duration_outside_the_announced_limits_is_refused_at_both_ends(
    online: Online,
) -> None:
    limits = online.a.welcome.limits
    for duration in (limits.min_space_seconds - 1, limits.max_space_seconds + 1):
        error = await refused(
            online.a,
            pack(type="signal", id=f"c-d-{duration}", kind="need_space", duration=duration),
        )
        assert (error.code, error.field, error.id) == (
            ErrorCode.INVALID_FIELD,
            "duration",
            f"c-d-{duration}",
        )
        assert str(duration) in error.message
    await assert_nothing_stored(online)
    longest = await online.a.signal(NeedSpace(duration=limits.max_space_seconds))
    assert longest.seq == online.version + 1


async def test_a_receipt_beyond_the_last_sequence_number_is_invalid_field(online: Online) -> None:
    error = await refused(online.b, encode(Received(seq=online.version + 1)))
    assert (error.code, error.field, error.id) == (ErrorCode.INVALID_FIELD, "seq", None)
    await assert_nothing_stored(online)


# too_large.


def signal_of_size(size: int, request_id: str) -> bytes:
    """A valid check_in padded with an unknown field to exactly ``size`` encoded bytes."""
    padding = 0
    for _ in range(3):  # the string header grows with the padding: settle in a few steps
        data = pack(type="signal", id=request_id, kind="check_in", padding="x" * padding)
        if len(data) == size:
            return data
        padding += size - len(data)
    raise AssertionError(f"cannot pad a signal to {size} bytes")


async def test_a_frame_over_max_frame_bytes_is_too_large_and_one_at_the_limit_is_not(
    online: Online,
) -> None:
    limit = online.a.welcome.limits.max_frame_bytes
    error = await refused(online.a, signal_of_size(limit + 1, "c-big-1"))
    assert error.code == ErrorCode.TOO_LARGE
    await assert_nothing_stored(online)

    await online.a.send_raw(signal_of_size(limit, "c-big-2"))
    stored = await online.a.next_event("check_in")
    assert stored.seq == online.version + 1


async def test_a_note_of_281_characters_is_too_large_and_280_are_fine(online: Online) -> None:
    error = await refused(
        online.a, pack(type="signal", id="c-note-1", kind="im_back", note="é" * 281)
    )
    assert (error.code, error.field, error.id) == (ErrorCode.TOO_LARGE, "note", "c-note-1")
    await assert_nothing_stored(online)

    stored = await online.a.signal(CheckIn(note="é" * 280))
    assert stored.body == CheckIn(note="é" * 280)


# forbidden, not_found, conflict.


async def test_a_read_only_device_may_not_signal_but_may_read(
    online: Online, http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    watch = await add_device(http, shared_hub.url, online.couple.b, kind="watch", scope="read")
    reader = await Device.connect(http, shared_hub.ws_url, watch.token)
    version = await pair_version(reader, reader.position.seq)
    online.version = version

    error = await refused(reader, encode(Signal("c-read-1", CheckIn(note="hi"))))
    assert (error.code, error.id) == (ErrorCode.FORBIDDEN, "c-read-1")
    await assert_nothing_stored(online)

    stored = await online.a.signal(CheckIn(note="the watch still hears me"))
    assert (await reader.next_event("check_in")).seq == stored.seq
    await reader.send(Received(seq=stored.seq))
    await still_open(reader)


async def test_an_ack_of_something_that_is_not_the_partners_bid_is_not_found(
    online: Online,
) -> None:
    own_bid = await online.a.signal(FeelingDisconnected(wish="talk"))
    online.version = own_bid.seq
    targets = {
        "the pair's first event": 1,
        "one's own bid": own_bid.seq,
        "an event not stored yet": own_bid.seq + 100,
    }
    for number, target in enumerate(targets.values()):
        request_id = f"c-ack-{number}"
        error = await refused(online.a, encode(Signal(request_id, Ack(target=target))))
        assert (error.code, error.id) == (ErrorCode.NOT_FOUND, request_id)
        await assert_nothing_stored(online)


async def test_an_ack_of_a_bid_already_heard_is_a_conflict(online: Online) -> None:
    bid = await online.b.signal(FeelingDisconnected(note="I miss you", wish="hug"))
    heard = await online.a.signal(Ack(target=bid.seq, reply="I hear you"))
    online.version = heard.seq

    error = await refused(online.a, encode(Signal("c-ack-again", Ack(target=bid.seq))))
    assert (error.code, error.id) == (ErrorCode.CONFLICT, "c-ack-again")
    await assert_nothing_stored(online)


async def test_a_client_message_id_reused_for_another_signal_is_a_conflict(
    online: Online,
) -> None:
    first = await online.a.signal(CheckIn(note="thinking of you"), id="c-same")
    online.version = first.seq

    error = await refused(online.a, encode(Signal("c-same", FeelingDisconnected(wish="walk"))))
    assert (error.code, error.id, error.field) == (ErrorCode.CONFLICT, "c-same", "id")
    await assert_nothing_stored(online)
    again = await online.a.signal(CheckIn(note="thinking of you"), id="c-same")
    assert again == first


# The handshake (SPEC.md 7.1).


async def test_a_client_without_the_subprotocol_is_closed_with_4502(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    ws = await open_socket(http, shared_hub.ws_url, protocols=())
    closing = await until_closed(ws)
    assert closing.code == CloseCode.UNSUPPORTED_PROTOCOL
    assert closing.frames == []


async def test_a_client_that_never_says_hello_is_closed_with_4003(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(handshake_timeout_s="0.5")
    ws = await open_socket(http, hub.ws_url)
    closing = await until_closed(ws, timeout=5)
    assert closing.code == CloseCode.HANDSHAKE_TIMEOUT
    assert 0.4 <= closing.seconds < 1.5, f"closed after {closing.seconds:.2f} s"


FIRST_FRAMES: dict[str, bytes | str] = {
    "a ping": encode(Ping(t=1)),
    "a signal": encode(Signal("c-1", CheckIn())),
    "not msgpack": b"\xc1",
    "a text message": "hello",
    "a hello whose resume is not a map": pack(type="hello", token="hlt_abc", resume=41),
}


@pytest.mark.parametrize("first", FIRST_FRAMES.values(), ids=FIRST_FRAMES.keys())
async def test_a_first_frame_that_is_not_a_valid_hello_gets_an_error_and_4503(
    http: aiohttp.ClientSession, shared_hub: HubProcess, first: bytes | str
) -> None:
    ws = await open_socket(http, shared_hub.ws_url)
    if isinstance(first, str):
        await ws.send_str(first)
    else:
        await ws.send_bytes(first)
    closing = await until_closed(ws)
    assert closing.code == CloseCode.BAD_HANDSHAKE
    assert len(closing.frames) == 1
    [error] = closing.errors
    assert error.message
    assert error.code in {ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE, ErrorCode.INVALID_FIELD}


async def test_unknown_revoked_and_garbage_tokens_get_the_same_unauthorized_and_4500(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    tablet = await add_device(http, shared_hub.url, couple.a, kind="widget")
    async with http.delete(
        f"{shared_hub.url}/v1/devices/{tablet.device}",
        headers={"Authorization": f"Bearer {couple.a.token}"},
    ) as response:
        assert response.status == 204
    tokens = {
        "unknown": "hlt_" + secrets.token_urlsafe(24),
        "revoked": tablet.token,
        "with spaces": "not a token at all",
        "too long": "hlt_" + "x" * 300,
        "not ASCII": "hlt_clé_secrète",
    }
    answers = {}
    for reason, token in tokens.items():
        ws = await open_socket(http, shared_hub.ws_url)
        await ws.send_bytes(pack(type="hello", token=token))
        closing = await until_closed(ws)
        answers[reason] = [(e.code, e.message, closing.code) for e in closing.errors]
    first = answers["unknown"]
    assert len(first) == 1
    assert first[0][0] == ErrorCode.UNAUTHORIZED
    assert first[0][2] == CloseCode.UNAUTHORIZED
    assert all(answer == first for answer in answers.values()), f"the reason leaks: {answers}"

    still_valid = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    assert still_valid.welcome.pair == couple.a.pair


async def test_a_message_far_over_the_size_limit_is_closed_with_1009(
    online: Online,
) -> None:
    limit = online.a.welcome.limits.max_frame_bytes
    await online.a.send_raw(signal_of_size(8 * limit + 1024, "c-huge"))
    assert await online.a.closed() == CloseCode.MESSAGE_TOO_BIG
    gone = await online.b.next_event("presence")
    assert (gone.member, gone.body) == (online.a.welcome.member, Presence(online=False))
    assert await pair_version(online.b, online.version) == gone.seq, "only A leaving is stored"


async def test_a_pair_never_sees_the_events_of_another_pair(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    ours, theirs = await pair_up(http, shared_hub.url), await pair_up(http, shared_hub.url)
    our_devices = await connect_couple(http, shared_hub.ws_url, ours)
    their_devices = await connect_couple(http, shared_hub.ws_url, theirs)

    our_bid = await our_devices[1].signal(FeelingDisconnected(note="ours"))
    their_bid = await their_devices[1].signal(FeelingDisconnected(note="theirs"))
    await our_devices[0].signal(Ack(target=our_bid.seq, reply="ours too"))
    await their_devices[0].signal(Ack(target=their_bid.seq, reply="theirs too"))

    for couple, devices, mine in ((ours, our_devices, "ours"), (theirs, their_devices, "theirs")):
        members = {couple.a.member, couple.b.member}
        for device in devices:
            await pair_version(device, 0)  # the whole log, replayed to this device
            await device.drain(quiet=0.2)
            assert device.events, "each device saw its own pair's events"
            strangers = [e for e in device.events if e.member not in members]
            assert strangers == [], f"{couple.a.pair} saw another pair's events: {strangers}"
            notes = {getattr(e.body, "note", None) for e in device.events} - {None}
            assert notes == {mine}, notes
            assert {m.id for m in device.welcome.state.members} <= members
