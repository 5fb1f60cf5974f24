"""The floor servers of bench/loadgen/ws_floor.py answer every ping, with either framing,
and ping every connection once an interval when they are the ones pinging.

Their CPU and memory are compared with the hub's idle figures in
BENCHMARKS.md, which only holds if they do the same work: accept the
upgrade with the subprotocol, answer each ``ping`` with its ``pong``, and
close when the client does.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.loadgen.ws_floor import serve
from heartline_protocol import SUBPROTOCOL, Ping, Pong, encode
from tests.support.servers import free_port


@pytest.mark.parametrize("framing", ["minimal", "websockets"])
async def test_a_floor_server_answers_each_ping_with_its_pong(framing: str) -> None:
    port = free_port()
    server = asyncio.create_task(serve(port, framing, None))
    try:
        async with asyncio.timeout(10):
            ws = await _connected(port)
            assert ws.subprotocol == SUBPROTOCOL
            for t in (1, 2, 3):
                await ws.send(encode(Ping(t=t)))
                assert msgpack.unpackb(await ws.recv()) == {"type": "pong", "t": t}
            await ws.close()
            assert ws.close_code == 1000
    finally:
        server.cancel()


@pytest.mark.parametrize("framing", ["minimal", "websockets"])
async def test_a_floor_server_that_pings_reaches_every_connection_once_an_interval(
    framing: str,
) -> None:
    port = free_port()
    server = asyncio.create_task(serve(port, framing, 0.5))
    try:
        async with asyncio.timeout(10):
            clients = [await _connected(port) for _ in range(3)]
            for ws in clients:
                for _ in range(3):
                    assert msgpack.unpackb(await ws.recv()) == {"type": "ping", "t": 0}
                    await ws.send(encode(Pong(t=0)))
                await ws.send(encode(Ping(t=9)))
                frames = [msgpack.unpackb(await ws.recv()) for _ in range(2)]
                assert {"type": "pong", "t": 9} in frames, "its pong is not answered"
                await ws.close()
    finally:
        server.cancel()


async def _connected(port: int) -> ClientConnection:
    while True:
        try:
            return await connect(
                f"ws://127.0.0.1:{port}/",
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                compression=None,
                ping_interval=None,
            )
        except OSError:
            await asyncio.sleep(0.05)
