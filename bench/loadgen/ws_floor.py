"""The floor under the idle figures: a bare WebSocket server that only answers pings.

    python -m bench.loadgen.ws_floor [--connections 10000] [--hold 30]
                                     [--heartbeat-ms 25000] [--framing minimal|websockets]
                                     [--pings devices|server]

No hub, no Redis: a server process on core 0 (as the hub in idle.py) whose
protocol object accepts the upgrade and answers each binary message (a
msgpack ``ping``) with a ``pong``, and ``--connections`` clients on core 1.
With ``--pings devices`` the clients ping every ``--heartbeat-ms`` exactly
as idle.py's ``--devices-ping`` devices do; with ``--pings server`` the
server pings its connections instead, a twenty-fifth of them each second as
the hub's heartbeat does (every connection once an interval), and the
clients answer as idle.py's devices do. It prints the server's RSS per
connection and its CPU over the hold.

``--framing minimal`` parses frames by hand in ``data_received`` (single
unfragmented frames under 126 bytes, what the clients send: the least any
Python server can do); ``--framing websockets`` uses the websockets
library's sans-I/O ``ServerProtocol`` instead. The difference between
these and idle.py is what the hub's own WebSocket path costs; what these
cost is what any Python server on this machine pays.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

import msgpack
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask
from websockets.typing import Subprotocol

from heartline_protocol import SUBPROTOCOL

from .idle import SETTLE_INTERVALS, answer_pings, keep_alive
from .run import HUB_CORE, LOAD_CORE, cpu_seconds, free_port, memory_kib

__all__ = ["main"]

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HANDSHAKES_IN_FLIGHT = 200
CLOSE = 0x8
NORMAL_CLOSURE = 1000


class MinimalFraming(asyncio.Protocol):
    """The upgrade by hand, then one masked frame under 126 bytes at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            head, found, buffer = buffer.partition(b"\r\n\r\n")
            if not found:
                self.buffer = head
                return
            self._upgrade(head)
        while len(buffer) >= 6 and len(buffer) >= 6 + (length := buffer[1] & 0x7F):
            if buffer[0] & 0x0F == CLOSE:
                self._close()
                return
            payload = apply_mask(buffer[6 : 6 + length], buffer[2:6])
            buffer = buffer[6 + length :]
            self._answer(payload)
        self.buffer = buffer

    def _close(self) -> None:
        assert self.transport is not None
        self.transport.write(bytes((0x80 | CLOSE, 2)) + NORMAL_CLOSURE.to_bytes(2, "big"))
        self.transport.close()

    def _upgrade(self, head: bytes) -> None:
        assert self.transport is not None
        key = next(
            line.partition(b":")[2].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Protocol: " + SUBPROTOCOL.encode() + b"\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.upgraded = True

    def _answer(self, payload: bytes) -> None:
        assert self.transport is not None
        if payload.startswith(PONG_HEAD):
            return
        pong = _pong_for(payload)
        self.transport.write(bytes((0x82, len(pong))) + pong)

    def ping(self, frame: bytes) -> None:
        if self.upgraded and self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)


class WebsocketsFraming(asyncio.Protocol):
    """The websockets library's sans-I/O server protocol on a transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.protocol = ServerProtocol(subprotocols=[Subprotocol(SUBPROTOCOL)], max_size=65536)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
            elif (
                isinstance(event, Frame)
                and event.opcode is Opcode.BINARY
                and not bytes(event.data).startswith(PONG_HEAD)
            ):
                protocol.send_binary(_pong_for(bytes(event.data)))
        if out := protocol.data_to_send():
            self.transport.write(b"".join(out))
        if protocol.close_expected():
            self.transport.close()

    def ping(self, frame: bytes) -> None:
        del frame  # framed by the protocol instead
        if self.transport is not None and not self.transport.is_closing():
            self.protocol.send_binary(PING)
            self.transport.write(b"".join(self.protocol.data_to_send()))


PING = bytes(msgpack.packb({"type": "ping", "t": 0}))
PONG_HEAD = bytes(msgpack.packb({"type": "pong", "t": 0}))[:-1]
PHASES = 25
"""As the hub's heartbeat at the default interval: a phase a second, each connection
pinged once an interval."""


def _pong_for(payload: bytes) -> bytes:
    ping = msgpack.unpackb(payload)
    return bytes(msgpack.packb({"type": "pong", "t": ping.get("t", 0)}))


async def serve(port: int, framing: str, server_pings_s: float | None) -> None:
    """Serve until killed; with ``server_pings_s``, ping every connection once that
    interval, a phase of them a tick."""
    connections: list[MinimalFraming | WebsocketsFraming] = []

    def factory() -> MinimalFraming | WebsocketsFraming:
        connection = MinimalFraming() if framing == "minimal" else WebsocketsFraming()
        connections.append(connection)
        return connection

    server = await asyncio.get_running_loop().create_server(
        factory, "127.0.0.1", port, backlog=4096
    )
    frame = bytes((0x82, len(PING))) + PING
    async with server:
        if server_pings_s is None:
            await server.serve_forever()
            return
        tick = 0
        while True:
            await asyncio.sleep(server_pings_s / PHASES)
            for connection in connections[tick % PHASES :: PHASES]:
                connection.ping(frame)
            tick += 1


async def hold(  # noqa: PLR0917 (the run's parameters, from main)
    url: str, connections: int, hold_s: float, interval_s: float, pid: int, server_pings: bool
) -> dict[str, Any]:
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)

    async def open_one() -> ClientConnection:
        async with gate:
            return await connect(
                url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None, ping_interval=None
            )

    rss_before = memory_kib(pid, "VmRSS")
    clients = await asyncio.gather(*(open_one() for _ in range(connections)))
    await asyncio.sleep(2.0)
    rss_connected = memory_kib(pid, "VmRSS")
    settle_s = SETTLE_INTERVALS * interval_s if server_pings else 0.0
    started = time.perf_counter() + settle_s
    until = started + hold_s
    keep = answer_pings if server_pings else keep_alive
    keeping = asyncio.gather(*(keep(ws, interval_s, until, started) for ws in clients))
    await asyncio.sleep(settle_s)
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    pings = await keeping
    cpu = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - started)
    await asyncio.gather(*(ws.close() for ws in clients))
    return {
        "connections": connections,
        "hold_s": hold_s,
        "pings_by": "server" if server_pings else "devices",
        "pings_answered": sum(pings),
        "server_rss_mib": {
            "before": round(rss_before / 1024, 1),
            "connected": round(rss_connected / 1024, 1),
        },
        "server_kib_per_connection": round((rss_connected - rss_before) / connections, 2),
        "server_cpu": round(cpu, 4),
    }


def _wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the floor server on port {port} did not listen")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--heartbeat-ms", type=int, default=25_000)
    parser.add_argument("--framing", choices=("minimal", "websockets"), default="minimal")
    parser.add_argument("--pings", choices=("devices", "server"), default="devices")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    server_pings = args.pings == "server"
    if args.serve:
        uvloop.run(
            serve(args.serve, args.framing, args.heartbeat_ms / 1000 if server_pings else None)
        )
        return
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", str(HUB_CORE), sys.executable, "-m", "bench.loadgen.ws_floor",
         f"--serve={port}", f"--framing={args.framing}", f"--pings={args.pings}",
         f"--heartbeat-ms={args.heartbeat_ms}"],
    )  # fmt: skip
    try:
        _wait_listening(port)
        os.sched_setaffinity(0, {LOAD_CORE})
        result = asyncio.run(
            hold(
                f"ws://127.0.0.1:{port}/",
                args.connections,
                args.hold,
                args.heartbeat_ms / 1000,
                server.pid,
                server_pings,
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    result["framing"] = args.framing
    print(json.dumps(result))
    print(
        f"{args.framing} framing, {result['connections']} connections, pinged by the "
        f"{args.pings} every {args.heartbeat_ms} ms, for {args.hold:g} s "
        f"({result['pings_answered']} pings answered): "
        f"{result['server_kib_per_connection']} KiB per connection, "
        f"server CPU {result['server_cpu']:.2%}"
    )


if __name__ == "__main__":
    main()
