"""The listening socket sends WebSocket upgrades to the hub's own path, the rest to aiohttp.

``is_websocket_upgrade`` reads a connection's first request head; the
stories below go through a real hub on loopback: an upgrade after another
request on a kept-alive connection (which only aiohttp sees), an upgrade
to a draining hub, a request head too long to sniff, many upgrades at
once. The queue that answers upgrades a few a turn is tested on its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
import pytest

from heartline_hub.listener import (
    MAX_HEAD_BYTES,
    UPGRADES_PER_TURN,
    UpgradeQueue,
    is_websocket_upgrade,
)
from heartline_protocol import Hello, Welcome, decode_from_hub, encode
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.raw_ws import RawWebSocket

UPGRADE = (
    b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13"
)


@pytest.mark.parametrize(
    ("head", "upgrade"),
    [
        (UPGRADE, True),
        (UPGRADE.replace(b"/v1/ws", b"/v1/ws?agent=watch"), True),
        (UPGRADE.replace(b"Upgrade: websocket", b"upgrade:   WebSocket"), True),
        (UPGRADE.replace(b"GET", b"POST"), False),
        (UPGRADE.replace(b"/v1/ws", b"/v1/wsx"), False),
        (UPGRADE.replace(b"/v1/ws", b"/healthz"), False),
        (UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: h2c"), False),
        (b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1", False),
        (b"", False),
    ],
    ids=["upgrade", "query", "header-case", "post", "other-path", "healthz", "h2c", "no-upgrade",
         "empty"],
)  # fmt: skip
def test_only_an_upgrade_to_the_websocket_path_is_taken_from_aiohttp(
    head: bytes, upgrade: bool
) -> None:
    assert is_websocket_upgrade(head) is upgrade


async def test_an_upgrade_after_a_request_on_a_kept_alive_connection_still_opens_a_session(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """Only a connection's first request is sniffed; aiohttp serves the upgrade after it."""
    hub = start_hub()
    couple = await pair_up(http, hub.url)
    ws = await RawWebSocket.open(hub.port)
    try:
        ws.writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, body = await _http_response(ws.reader)
        assert (status, json.loads(body)) == (200, {"status": "ok"})

        assert (await ws.upgrade(hub.ws_url)).status_code == 101
        hello = encode(Hello(token=couple.a.token, agent="keep-alive-test"))
        ws.send(lambda protocol: protocol.send_binary(hello))
        welcome = decode_from_hub(bytes((await ws.next_frame()).data))
        assert isinstance(welcome, Welcome)
        assert welcome.member == couple.a.member
    finally:
        ws.close()


async def test_a_draining_hub_refuses_an_upgrade_with_503_and_an_error_code(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """A connection the hub accepted before its drain; new ones find the socket closed."""
    hub = start_hub(drain_timeout_s="3")
    couple = await pair_up(http, hub.url)
    staying = await Device.connect(http, hub.ws_url, couple.a.token)
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        hub.begin_drain()
        await staying.receive(lambda frame: frame.type == "goaway")
        writer.write(UPGRADE + b"\r\nSec-WebSocket-Protocol: heartline.v1\r\n\r\n")
        status, body = await _http_response(reader)
    finally:
        writer.close()
    assert status == 503
    assert json.loads(body)["error"]["code"] == "unavailable"


async def test_a_request_head_too_long_to_sniff_gets_an_http_error(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub()
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"x" * (2 * MAX_HEAD_BYTES))
        await writer.drain()
        status, _ = await _http_response(reader)
    finally:
        writer.close()
    assert 400 <= status < 500


class Answered:
    def __init__(self, number: int, log: list[int]) -> None:
        self.number, self.log = number, log

    def hand_to_websocket(self) -> None:
        self.log.append(self.number)


async def test_upgrades_are_answered_a_few_a_turn_in_the_order_they_came() -> None:
    """So that a storm of upgrades cannot hold the event loop for one long turn."""
    answered: list[int] = []
    backlog: list[int] = []
    queue = UpgradeQueue(asyncio.get_running_loop(), on_backlog=backlog.append, per_turn=3)
    for number in range(7):
        queue.add(Answered(number, answered))
    assert answered == []
    assert backlog == [0, 0, 0, 1, 2, 3, 4], "beyond what the next turn answers"

    turns = []
    while len(queue):
        await asyncio.sleep(0)
        turns.append(list(answered))

    assert turns == [[0, 1, 2], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6]]
    assert backlog[7:] == [1, 0, 0], "the hub's overload check is told of the backlog"
    queue.add(Answered(7, answered))
    await asyncio.sleep(0)
    assert answered[-1] == 7, "an idle queue answers the next upgrade in the next turn"


async def test_many_upgrades_at_once_are_all_answered_though_some_clients_left(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub()
    request = UPGRADE + b"\r\nSec-WebSocket-Protocol: heartline.v1\r\n\r\n"
    count = 4 * UPGRADES_PER_TURN
    connections = [await asyncio.open_connection("127.0.0.1", hub.port) for _ in range(count)]
    for number, (_, writer) in enumerate(connections):
        writer.write(request)
        if number % 5 == 0:
            writer.close()
    staying = [pair for number, pair in enumerate(connections) if number % 5]
    try:
        async with asyncio.timeout(10):
            heads = [await reader.readuntil(b"\r\n\r\n") for reader, _ in staying]
    finally:
        for _, writer in staying:
            writer.close()
    assert [head.split(b" ", 2)[1] for head in heads] == [b"101"] * len(staying)
    assert hub.running


async def _http_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        return status, await reader.readexactly(length)
