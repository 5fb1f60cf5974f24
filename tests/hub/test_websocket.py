"""The hub's own WebSocket path (websocket.py) does what RFC 6455 asks of a server.

Through a real hub on loopback, with a client that writes frames one by one
(tests/support/raw_ws.py): a message sent in fragments is one frame of the
protocol, a WebSocket ping is answered with its payload, and a close from
the client is answered and the connection closed by the hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Opcode

from heartline_protocol import (
    SUBPROTOCOL,
    CheckIn,
    Hello,
    HubFrame,
    Ping,
    Pong,
    Result,
    Signal,
    Welcome,
    decode_from_hub,
    encode,
)
from tests.support.couples import Couple, pair_up
from tests.support.hubs import HubProcess
from tests.support.raw_ws import RawWebSocket


@pytest.fixture
async def couple(http: aiohttp.ClientSession, shared_hub: HubProcess) -> Couple:
    return await pair_up(http, shared_hub.url)


@pytest.fixture
async def upgraded(shared_hub: HubProcess) -> AsyncIterator[RawWebSocket]:
    ws = await RawWebSocket.open(shared_hub.port)
    response = await ws.upgrade(shared_hub.ws_url)
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Protocol"] == SUBPROTOCOL
    yield ws
    ws.close()


async def test_a_hello_sent_in_three_fragments_is_one_message(
    upgraded: RawWebSocket, couple: Couple
) -> None:
    hello = encode(Hello(token=couple.a.token, agent="fragments"))
    third = len(hello) // 3
    upgraded.send(lambda p: p.send_binary(hello[:third], fin=False))
    upgraded.send(lambda p: p.send_continuation(hello[third : 2 * third], fin=False))
    upgraded.send(lambda p: p.send_continuation(hello[2 * third :], fin=True))
    frame = await upgraded.next_frame()
    assert frame.opcode is Opcode.BINARY
    welcome = decode_from_hub(bytes(frame.data))
    assert isinstance(welcome, Welcome)
    assert welcome.member == couple.a.member


async def test_a_websocket_ping_is_answered_with_its_payload(upgraded: RawWebSocket) -> None:
    upgraded.send(lambda p: p.send_ping(b"are you there"))
    frame = await upgraded.next_frame()
    assert (frame.opcode, bytes(frame.data)) == (Opcode.PONG, b"are you there")


async def test_a_protocol_ping_on_an_open_session_gets_its_pong(
    upgraded: RawWebSocket, couple: Couple
) -> None:
    upgraded.send(lambda p: p.send_binary(encode(Hello(token=couple.a.token, agent="ping"))))
    assert isinstance(decode_from_hub(bytes((await upgraded.next_frame()).data)), Welcome)
    for t in (11, 12, 13):
        upgraded.send(lambda p, t=t: p.send_binary(encode(Ping(t=t))))  # type: ignore[misc]
        answers = [decode_from_hub(bytes((await upgraded.next_frame()).data))]
        while not isinstance(answers[-1], Pong):
            answers.append(decode_from_hub(bytes((await upgraded.next_frame()).data)))
        assert answers[-1].t == t


async def test_frames_sent_faster_than_they_are_handled_are_all_answered_in_order(
    upgraded: RawWebSocket, couple: Couple
) -> None:
    """More frames than the hub queues per connection: it stops reading for a while
    (TCP pushes back) and answers every one, in the order sent."""
    upgraded.send(lambda p: p.send_binary(encode(Hello(token=couple.a.token, agent="burst"))))
    assert isinstance(decode_from_hub(bytes((await upgraded.next_frame()).data)), Welcome)
    burst = [encode(Signal(id=f"burst-{n}", body=CheckIn(note=f"{n}"))) for n in range(3)]
    burst += [encode(Ping(t=t)) for t in range(40)]

    def send_all(protocol: ClientProtocol) -> None:
        for frame in burst:
            protocol.send_binary(frame)

    upgraded.send(send_all)
    answers: list[HubFrame] = []
    while len([a for a in answers if isinstance(a, Result | Pong)]) < len(burst):
        answers.append(decode_from_hub(bytes((await upgraded.next_frame()).data)))
    replies = [a for a in answers if isinstance(a, Result | Pong)]
    assert [r.id for r in replies if isinstance(r, Result)] == ["burst-0", "burst-1", "burst-2"]
    assert [r.t for r in replies if isinstance(r, Pong)] == list(range(40))
    assert isinstance(replies[2], Result), "each ping answered after the signals sent before it"


async def closed_with(ws: RawWebSocket) -> int:
    """The code of the hub's close frame, once the hub also closed the connection."""
    frame = await ws.next_frame()
    assert frame.opcode is Opcode.CLOSE
    assert await ws.closed_by_hub()
    return Close.parse(bytes(frame.data)).code


async def test_a_close_from_the_client_is_answered_and_the_hub_closes_the_connection(
    upgraded: RawWebSocket,
) -> None:
    upgraded.send(lambda p: p.send_close(1000, "bye"))
    assert await closed_with(upgraded) == 1000


async def test_an_unmasked_frame_is_refused_with_1002_and_the_connection_closed(
    upgraded: RawWebSocket,
) -> None:
    upgraded.writer.write(b"\x82\x03abc")
    assert await closed_with(upgraded) == 1002


async def test_a_text_message_that_is_not_utf8_is_refused_with_1007(
    upgraded: RawWebSocket,
) -> None:
    upgraded.writer.write(b"\x81\x81\x00\x00\x00\x00\xff")
    assert await closed_with(upgraded) == 1007
