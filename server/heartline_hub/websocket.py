"""The WebSocket a session speaks through: the hub's own, and aiohttp's as a fallback.

aiohttp keeps, for each WebSocket it serves, the upgrade request and its
request handler alive for the connection's life and wakes the handler's
task through its own message queue for every frame: about 11 KiB and a
large part of an idle connection's CPU (BENCHMARKS.md, fifth slice). So
the listener (listener.py) hands ``/v1/ws`` upgrades to a :class:`Connection`
instead: an asyncio protocol on the socket. The websockets library's sans-I/O
``ServerProtocol`` checks and answers the upgrade; then the frames of a
connection without compression are read by hand (ws_framing.py), and the
protocol object is let go. One that negotiated permessage-deflate keeps
websockets' protocol for its framing, compression and close handshake.

A session sees either through :class:`Socket`. :class:`AiohttpSocket`
serves the upgrades aiohttp still receives: one that follows another
request on a kept-alive connection, which the listener never sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import http
import json
import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, cast

import structlog
from aiohttp import WSMsgType, web
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import SEND_EOF, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from heartline_protocol import SUBPROTOCOL

from .writer import binary_frame
from .ws_framing import (
    ABNORMAL_CLOSURE,
    Closed,
    Failed,
    FrameReader,
    Ping,
    Whole,
    close_frame,
    echo_close,
    pong_frame,
)

__all__ = ["HANDLED", "AiohttpSocket", "Connection", "Kind", "Message", "Socket"]

log = structlog.get_logger(__name__)
_quiet = logging.getLogger(f"{__name__}.frames")
"""websockets logs every connection's opening and closing at info; only its warnings."""
_quiet.setLevel(logging.WARNING)

INBOX_LIMIT = 16
"""Messages read but not yet handled before the socket stops reading (TCP pushes back)."""
CLOSE_WAIT_S = 1.5
"""How long the hub waits for the client's answer to its close frame (under the
session's 2 s, after which it cuts the connection)."""


class Kind(enum.Enum):
    BINARY = "binary"
    TEXT = "text"
    CLOSED = "closed"


class Message(NamedTuple):
    kind: Kind
    data: bytes
    decoded: object = None
    """The frame, when the session already decoded it on arrival (see ``Connection.on_binary``)."""


CLOSED = Message(Kind.CLOSED, b"")
HANDLED = object()
"""What ``Connection.on_binary`` returns for a message it dealt with."""


class Socket(Protocol):
    """What a session needs of its WebSocket."""

    on_binary: Callable[[bytes], object] | None

    @property
    def subprotocol(self) -> str | None: ...

    @property
    def compressed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    @property
    def transport(self) -> asyncio.Transport | None: ...

    async def receive(self, timeout: float | None = None) -> Message: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: bytes) -> None: ...


class Connection(asyncio.Protocol):
    """A WebSocket on its own socket, from the upgrade request to the TCP close.

    ``on_open`` is called with the connection once the upgrade is accepted,
    to start what runs it (the session); ``refuse`` decides whether an
    upgrade is answered with an HTTP error instead (a draining hub): its
    status, error code and message.
    """

    def __init__(
        self,
        *,
        max_message_bytes: int,
        deflate: bool,
        on_open: Callable[[Connection], None],
        refuse: Callable[[], tuple[int, str, str] | None],
    ) -> None:
        self._protocol: ServerProtocol | None = ServerProtocol(
            select_subprotocol=_heartline_or_none,
            extensions=[ServerPerMessageDeflateFactory()] if deflate else None,
            max_size=max_message_bytes,
            logger=_quiet,
        )
        """websockets' protocol: the handshake, and all of a compressed connection."""
        self._max_size = max_message_bytes
        self._reader: FrameReader | None = None
        """The hand-made framing of an open connection without compression."""
        self._close_sent = False
        self._close_code: int | None = None
        self._on_open = on_open
        self._refuse = refuse
        self._loop = asyncio.get_running_loop()
        """Kept: each ``asyncio.get_running_loop()`` is a ``getpid`` system call (writer.py)."""
        self._transport: asyncio.Transport | None = None
        self._inbox: list[Message] = []
        self._fragments: list[bytes | bytearray | memoryview] = []
        self._fragments_kind = Kind.BINARY
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._closed = False
        self._reading_paused = False
        self.subprotocol: str | None = None
        self.compressed = False
        self.on_binary: Callable[[bytes], object] | None = None
        """Set by the session: called with a binary message that arrives while the
        session waits for one. It handles what needs no waiting on the spot (a
        ``ping``) and returns ``HANDLED``, or returns what it decoded (None if
        nothing) for the session's task to handle in order. A ping then costs no
        task wake-up: most of what 10,000 idle devices send."""

    # Socket, for the session.

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    @property
    def close_code(self) -> int | None:
        if self._protocol is not None:
            return self._protocol.close_code
        return self._close_code

    async def receive(self, timeout: float | None = None) -> Message:
        if not self._inbox and not self._closed:
            self._waiter = self._loop.create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, timeout)
            finally:
                self._waiter = None
        if not self._inbox:
            return CLOSED
        message = self._inbox.pop(0)
        if self._reading_paused and len(self._inbox) < INBOX_LIMIT // 2:
            self._reading_paused = False
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()
        return message

    async def send_bytes(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol is None:
            if self._closed or self._close_sent or self._transport is None:
                raise ConnectionResetError("the WebSocket is closed")
            self._transport.write(binary_frame(data))
        else:
            if self._closed or protocol.state is not State.OPEN:
                raise ConnectionResetError("the WebSocket is closed")
            protocol.send_binary(data)
            self._flush()
        if self._writable is not None:
            await asyncio.shield(self._writable)

    async def close(self, code: int, reason: bytes) -> None:
        """Send a close frame, wait (briefly) for the client's, then close the socket."""
        protocol = self._protocol
        if protocol is None:
            self._send_close(close_frame(code, reason.decode(errors="replace")))
        elif protocol.state is State.OPEN:
            protocol.send_close(code, reason.decode(errors="replace"))
            self._flush()
        if self._closed:
            return
        self._waiter = self._loop.create_future()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._waiter, CLOSE_WAIT_S)
        finally:
            self._waiter = None
        if self._transport is not None and not self._closed:
            self._transport.close()

    # asyncio.Protocol, for the event loop.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is not None:
            self._read(reader.feed(data))
            return
        protocol = self._protocol
        if protocol is None:
            return
        protocol.receive_data(data)
        events = protocol.events_received()
        for event in events:
            if isinstance(event, Request):
                self._answer_upgrade(event)
            elif isinstance(event, Frame):
                self._take(event)
        self._flush()
        if self._opened_at_a_frame_boundary(protocol, events):
            self._reader = FrameReader(self._max_size)
            self._protocol = None

    def eof_received(self) -> bool:
        if self._protocol is not None:
            self._protocol.receive_eof()
            self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        self._closed = True
        if self._protocol is None and self._close_code is None:
            self._close_code = ABNORMAL_CLOSURE
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # What the connection does.

    def _answer_upgrade(self, request: Request) -> None:
        protocol = self._protocol
        assert protocol is not None, "an upgrade is read by websockets' protocol"
        refused = self._refuse()
        if refused is None:
            response = protocol.accept(request)
        else:
            status, code, message = refused
            response = protocol.reject(status, refusal_body(code, message))
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
        protocol.send_response(response)
        if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
            self.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
            self.compressed = "Sec-WebSocket-Extensions" in response.headers
            self._on_open(self)

    def _opened_at_a_frame_boundary(
        self, protocol: ServerProtocol, events: Sequence[object]
    ) -> bool:
        """Whether framing can pass to :class:`FrameReader`: the upgrade was just
        accepted without compression, and nothing after the request has been read
        (websockets' parser holds no byte of a frame)."""
        return (
            self.subprotocol is not None
            and not self.compressed
            and protocol.state is State.OPEN
            and len(events) == 1
            and not protocol.reader.buffer
        )

    def _read(self, completed: list[Whole | Ping | Closed | Failed]) -> None:
        """Act on what the hand-made framing read: messages, pings, the close, a violation."""
        transport = self._transport
        for item in completed:
            if isinstance(item, Whole):
                self._deliver(Message(Kind.TEXT if item.text else Kind.BINARY, item.data))
            elif isinstance(item, Ping):
                if transport is not None and not self._close_sent:
                    transport.write(pong_frame(item.payload))
            elif isinstance(item, Closed):
                self._close_code = item.code
                self._send_close(echo_close(item))
                self._drop()
            else:
                self._close_code = item.code
                self._send_close(close_frame(item.code, item.reason))
                self._drop()

    def _send_close(self, frame: bytes) -> None:
        """Send our close frame, once; after the client's, it echoes it (RFC 6455 5.5.1)."""
        if not self._close_sent and self._transport is not None and not self._closed:
            self._transport.write(frame)
            self._close_sent = True

    def _drop(self) -> None:
        """Close the socket once the close frames are exchanged (or the framing failed):
        the server closes the TCP connection first (RFC 6455 7.1.1)."""
        if self._transport is not None:
            self._transport.close()
        self._wake()

    def _take(self, frame: Frame) -> None:
        """Collect a message's frames; control frames are answered by the protocol."""
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
            self._fragments_kind = Kind.TEXT if frame.opcode is Opcode.TEXT else Kind.BINARY
            self._fragments = [frame.data]
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(frame.data)
        else:
            if frame.opcode is Opcode.CLOSE:
                self._wake()
            return
        if frame.fin:
            data = self._fragments[0] if len(self._fragments) == 1 else b"".join(self._fragments)
            self._fragments = []
            self._deliver(Message(self._fragments_kind, bytes(data)))

    def _deliver(self, message: Message) -> None:
        waiting = self._waiter is not None and not self._inbox
        if waiting and message.kind is Kind.BINARY and self.on_binary is not None:
            decoded = self.on_binary(message.data)
            if decoded is HANDLED:
                return
            message = message._replace(decoded=decoded)
        self._inbox.append(message)
        self._wake()
        if len(self._inbox) >= INBOX_LIMIT and not self._reading_paused:
            self._reading_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        """Write what websockets' protocol has to send; close the socket once its close is done."""
        transport, protocol = self._transport, self._protocol
        if transport is None or transport.is_closing() or protocol is None:
            return
        writes = protocol.data_to_send()
        data = [chunk for chunk in writes if chunk is not SEND_EOF and chunk]
        if data:
            transport.write(b"".join(data))
        if SEND_EOF in writes or protocol.state is State.CLOSED:
            transport.close()


def _heartline_or_none(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Select ``heartline.v1`` if offered; otherwise accept without a subprotocol, and
    the session closes with 4502 (SPEC.md 2: a browser cannot read a refused upgrade)."""
    del protocol
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


def refusal_body(code: str, message: str) -> str:
    """The JSON body of an upgrade refused with an HTTP status, as the HTTP API's errors."""
    return json.dumps({"error": {"code": code, "message": message}})


class AiohttpSocket:
    """aiohttp's WebSocket behind the same face, for upgrades the listener did not see."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self._ws = ws
        self._transport = transport
        self.on_binary: Callable[[bytes], object] | None = None
        """Not called: aiohttp's messages all go through the read loop."""

    @property
    def subprotocol(self) -> str | None:
        return self._ws.ws_protocol

    @property
    def compressed(self) -> bool:
        return bool(self._ws.compress)

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    async def receive(self, timeout: float | None = None) -> Message:
        message = await self._ws.receive(timeout)
        if message.type is WSMsgType.BINARY:
            return Message(Kind.BINARY, message.data)
        if message.type is WSMsgType.TEXT:
            return Message(Kind.TEXT, message.data.encode())
        return CLOSED

    async def send_bytes(self, data: bytes) -> None:
        await self._ws.send_bytes(data)

    async def close(self, code: int, reason: bytes) -> None:
        await self._ws.close(code=code, message=reason)
