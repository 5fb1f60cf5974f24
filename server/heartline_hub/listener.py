"""The hub's listening socket: WebSocket upgrades to the hub's own path, the rest to aiohttp.

Each new connection is read until the end of its first request's head. An
upgrade to ``/v1/ws`` goes to a :class:`~.websocket.Connection` (the whole
head, parsed again there by the websockets library); anything else goes to
aiohttp's request handler, exactly as if aiohttp had accepted the
connection, and stays with it for the connection's life.

Upgrades are answered ``UPGRADES_PER_TURN`` at a time, one batch per turn
of the event loop. In a reconnect storm thousands of upgrade requests are
readable in the same turn; answered all in that turn (about 200 µs each)
they held the loop for up to a second, and the frames of every session
already open waited behind them (BENCHMARKS.md, eighth slice).

:func:`run` replaces ``aiohttp.web.run_app``: the same start-up, the same
SIGTERM/SIGINT handling (stop listening, drain, wait for the connections,
clean up), with this listener in front.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
from collections.abc import Callable
from typing import Protocol, cast

import structlog
from aiohttp import web

from .node import Node
from .session import Session
from .settings import Settings
from .websocket import Connection

__all__ = [
    "MAX_HEAD_BYTES",
    "UPGRADES_PER_TURN",
    "WEBSOCKET_PATH",
    "Listener",
    "Upgrade",
    "UpgradeQueue",
    "is_websocket_upgrade",
    "run",
]

log = structlog.get_logger(__name__)

WEBSOCKET_PATH = b"/v1/ws"
MAX_HEAD_BYTES = 16 * 1024
"""A first request head longer than this goes to aiohttp, which refuses it."""
UPGRADES_PER_TURN = 16
"""WebSocket upgrades answered in one turn of the event loop; the rest wait for the next."""


def is_websocket_upgrade(head: bytes) -> bool:
    """Whether a request head asks ``GET /v1/ws`` with ``Upgrade: websocket``."""
    request_line, _, headers = head.partition(b"\r\n")
    method, _, rest = request_line.partition(b" ")
    target = rest.partition(b" ")[0].partition(b"?")[0]
    if method != b"GET" or target != WEBSOCKET_PATH:
        return False
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


class Upgrade(Protocol):
    def hand_to_websocket(self) -> None: ...


class UpgradeQueue:
    """Upgrades waiting for their answer, answered ``per_turn`` a turn in the order they came."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_backlog: Callable[[int], None],
        per_turn: int = UPGRADES_PER_TURN,
    ) -> None:
        """``on_backlog`` is told, on every change, how many wait beyond the next turn's
        answers: none but in a storm, whereas one upgrade always waits for a turn."""
        self._loop = loop
        self._per_turn = per_turn
        self._on_backlog = on_backlog
        self._waiting: collections.deque[Upgrade] = collections.deque()
        self._answering = False

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, upgrade: Upgrade) -> None:
        self._waiting.append(upgrade)
        self._on_backlog(max(0, len(self._waiting) - self._per_turn))
        if not self._answering:
            self._answering = True
            self._loop.call_soon(self._answer)

    def _answer(self) -> None:
        waiting = self._waiting
        for _ in range(min(self._per_turn, len(waiting))):
            waiting.popleft().hand_to_websocket()
        self._on_backlog(max(0, len(waiting) - self._per_turn))
        if waiting:
            self._loop.call_soon(self._answer)
        else:
            self._answering = False


class Listener:
    """Makes the protocol for each accepted connection, and keeps the sessions it started."""

    def __init__(self, node: Node, runner: web.AppRunner) -> None:
        self._node = node
        self._runner = runner
        self.sessions: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        settings = node.settings
        self._max_message_bytes = 8 * settings.max_frame_bytes
        self._deflate = settings.websocket_deflate
        self.upgrades = UpgradeQueue(self._loop, on_backlog=node.overload.upgrades_backlog)

    def __call__(self) -> asyncio.Protocol:
        return _FirstRequest(self)

    def websocket(self) -> Connection:
        return Connection(
            max_message_bytes=self._max_message_bytes,
            deflate=self._deflate,
            on_open=self._open,
            refuse=self._refusal,
        )

    def http(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None, "the runner is set up before the socket listens"
        return cast(asyncio.Protocol, server())

    async def wait_closed(self, timeout: float) -> None:
        """Wait for the sessions to end (after a drain), at most ``timeout`` seconds."""
        if self.sessions:
            await asyncio.wait(tuple(self.sessions), timeout=timeout)

    def _open(self, connection: Connection) -> None:
        task = self._loop.create_task(Session(self._node, connection).run())
        self.sessions.add(task)
        task.add_done_callback(self.sessions.discard)

    def _refusal(self) -> tuple[int, str, str] | None:
        if self._node.draining:
            return 503, "unavailable", "this hub is draining"
        return None


class _FirstRequest(asyncio.Protocol):
    """Reads a connection's first request head, then hands the connection on."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._upgrading = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._head += data
        if self._upgrading:
            return
        end = self._head.find(b"\r\n\r\n")
        if end >= 0 and is_websocket_upgrade(self._head[:end]):
            self._upgrading = True
            assert self._transport is not None
            self._transport.pause_reading()  # nothing more is buffered here while it waits
            self._listener.upgrades.add(self)
        elif end >= 0 or len(self._head) > MAX_HEAD_BYTES:
            self._hand_to(self._listener.http())

    def hand_to_websocket(self) -> None:
        """Answer the upgrade, unless the client went away while it waited."""
        if self._transport is not None:
            self._transport.resume_reading()
            self._hand_to(self._listener.websocket())

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        self._transport = None

    def _hand_to(self, protocol: asyncio.Protocol) -> None:
        transport = self._transport
        assert transport is not None
        self._transport = None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(self._head)
        self._head = b""


def run(
    app: web.Application,
    node: Node,
    settings: Settings,
    *,
    loop: asyncio.AbstractEventLoop,
    announce: Callable[[], None],
) -> None:
    """Serve until SIGTERM or SIGINT, then drain and clean up (see the module's docstring)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, node, settings, announce))
    finally:
        with contextlib.suppress(RuntimeError):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(
    app: web.Application, node: Node, settings: Settings, announce: Callable[[], None]
) -> None:
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=settings.drain_timeout_s + 5
    )
    listener = Listener(node, runner)

    async def wait_for_sessions(_: web.Application) -> None:
        await listener.wait_closed(settings.drain_timeout_s + 5)

    app.on_shutdown.append(wait_for_sessions)
    await runner.setup()
    server = await loop.create_server(
        listener, settings.host, settings.port, backlog=settings.listen_backlog, reuse_address=True
    )
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    announce()
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()
        await server.wait_closed()
