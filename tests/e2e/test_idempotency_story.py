"""A's phone loses its connection between sending a signal and hearing back; resending is safe.

A taps "I need space" on a train; the frame leaves the phone, and the
connection dies before the answer comes back. The phone cannot know whether
the hub stored it, so after reconnecting it sends the same signal again with
the same client message id. The hub answers with the original event (same
sequence number, same id), and B sees the signal once. Reusing an id for a
different signal is refused with ``conflict`` and stores nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from urllib.parse import urlsplit

import aiohttp
import pytest

from heartline_protocol import (
    SUBPROTOCOL,
    CheckIn,
    ErrorCode,
    Hello,
    NeedSpace,
    Signal,
    Welcome,
    decode_from_hub,
    encode,
)
from tests.support.couples import pair_up
from tests.support.devices import Device, HubError
from tests.support.hubs import HubProcess
from tests.support.stories import caught_up, presence_of

WALK = NeedSpace(duration=1800, note="going for a walk to recharge, I love you")


async def send_and_lose_the_connection(ws_url: str, token: str, signal: Signal) -> None:
    """A phone's last moments online: hello, welcome, the signal out, then the socket gone.

    A WebSocket client written out by hand, so that nothing reads or answers
    after the signal leaves: the TCP connection closes without a close frame,
    as when a phone loses its network.
    """
    url = urlsplit(ws_url)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(_client_frame(encode(Hello(token=token, agent="heartline-tests/raw"))))
    welcome = decode_from_hub(await asyncio.wait_for(_hub_frame(reader), 5))
    assert isinstance(welcome, Welcome), welcome
    writer.write(_client_frame(encode(signal)))
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):  # gone is gone, however the socket ends
        await writer.wait_closed()


def _client_frame(payload: bytes) -> bytes:
    """One masked binary WebSocket frame (RFC 6455 5.2), as a client must send it."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x82, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x82, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x82, 0x80 | 127, length)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


async def _hub_frame(reader: asyncio.StreamReader) -> bytes:
    """The payload of the next (unmasked, unfragmented binary) frame from the hub."""
    first, second = await reader.readexactly(2)
    assert first == 0x82, f"expected one binary frame, got {first:#x}"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return await reader.readexactly(length)


async def test_a_signal_resent_after_a_lost_connection_is_stored_once(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    hub = shared_hub
    couple = await pair_up(http, hub.url)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    await presence_of(b_phone, couple.b.member)

    # A's phone sends "I need space" and loses its connection before any answer.
    request = Signal("walk-1", WALK)
    await send_and_lose_the_connection(hub.ws_url, couple.a.token, request)

    # The hub had it: B sees it.
    original = await b_phone.next_event("need_space")
    assert (original.member, original.device) == (couple.a.member, couple.a.device)

    # A's phone reconnects and, not knowing, sends the same signal with the same id.
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    again = await a_phone.signal(WALK, id="walk-1")
    assert (again.seq, again.id) == (original.seq, original.id)
    assert again == original

    # B sees the signal exactly once: a later signal of A's follows with nothing between
    # but A's coming and going.
    later = await a_phone.signal(CheckIn(note="how is your day?"))
    await caught_up(b_phone, later.seq)
    spaces = [e for e in b_phone.events if e.kind == "need_space"]
    assert spaces == [original]
    between = [e.kind for e in b_phone.events if original.seq < e.seq < later.seq]
    assert set(between) <= {"presence"}
    first = b_phone.welcome.state.version + 1
    assert [e.seq for e in b_phone.events] == list(range(first, later.seq + 1))
    for device in (a_phone, b_phone):
        await device.close()


async def test_an_id_reused_for_a_different_signal_is_a_conflict(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    hub = shared_hub
    couple = await pair_up(http, hub.url)
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    for member in (couple.a.member, couple.b.member):
        await presence_of(a_phone, member)
    walk = await a_phone.signal(WALK, id="walk-1")

    # The same id, but a different note, or another kind of signal: refused.
    for different in (
        NeedSpace(duration=1800, note="going for a run"),
        NeedSpace(duration=600, note=WALK.note),
        CheckIn(note="going for a walk to recharge, I love you"),
    ):
        with pytest.raises(HubError) as refusal:
            await a_phone.signal(different, id="walk-1")
        assert refusal.value.code == ErrorCode.CONFLICT
        assert refusal.value.frame.id == "walk-1"

    # Nothing was stored: the same id with the same signal still answers the original,
    # and the next signal takes the very next sequence number.
    assert (await a_phone.signal(WALK, id="walk-1")) == walk
    hug = await b_phone.signal(CheckIn(note="hug when you're back?"))
    assert hug.seq == walk.seq + 1
    await caught_up(b_phone, hug.seq)
    assert [e for e in b_phone.events if e.kind == "need_space"] == [walk]
    for device in (a_phone, b_phone):
        await device.close()
