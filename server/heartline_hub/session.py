"""One WebSocket connection: handshake, read loop, bounded writer (SPEC.md 7).

Theory of operation. A session moves only along :data:`TRANSITIONS`:

============  ==============================  =========================
state         entered when                    frames handled
============  ==============================  =========================
handshaking   the WebSocket opens             ``hello`` only
open          ``welcome`` was sent            every client frame
draining      the hub sent ``goaway``         signals get unavailable
closed        either side closed              none
============  ==============================  =========================

While handshaking, the session is already in its pair's room, so events
stored meanwhile are held back; after ``welcome`` (and, on resume, the
missed events read from the log) they follow with no gap and no repeat.
Frames from the client are handled one at a time, in order: a signal is
answered only after it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from heartline_protocol import (
    SUBPROTOCOL,
    CloseCode,
    Error,
    ErrorCode,
    Event,
    Goaway,
    Hello,
    Ping,
    Pong,
    Position,
    ProtocolError,
    Received,
    Result,
    Signal,
    Snapshot,
    Sync,
    Welcome,
    can_resume,
    decode_from_client,
    encode,
    encode_pong,
    encode_signal_result,
)

from . import decisions, presence
from .auth import authenticate
from .clock import now_ms
from .heartbeat import NEVER
from .journal import PairGone, Recorded
from .metrics import CONNECTIONS, ERRORS, EVENTS_DELIVERED
from .ratelimit import TokenBucket
from .signalling import admit, store_signal
from .store import PairSnapshot, StoreUnavailable, TokenRecord
from .websocket import HANDLED, Kind, Message, Socket
from .writer import Writer

if TYPE_CHECKING:
    from .node import Node

__all__ = ["TRANSITIONS", "Session", "SessionState"]

log = structlog.get_logger(__name__)

_HUBS_FAULT = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})
REPLAY_PAGE = 500
CLOSE_S = 2.0
"""How long a close may take before the connection is cut (a client not reading)."""
REFUSED_WINDOW_S = 10.0
"""What ends the read loop, as aiohttp's own ``async for`` over a WebSocket ends."""


class SessionState(enum.Enum):
    HANDSHAKING = "handshaking"
    OPEN = "open"
    DRAINING = "draining"
    CLOSED = "closed"


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.HANDSHAKING: frozenset({SessionState.OPEN, SessionState.CLOSED}),
    SessionState.OPEN: frozenset({SessionState.DRAINING, SessionState.CLOSED}),
    SessionState.DRAINING: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


class Session:
    def __init__(self, node: Node, socket: Socket) -> None:
        self._node = node
        self._socket = socket
        self.id = secrets.token_hex(6)
        self.state = SessionState.HANDSHAKING
        self.identity: TokenRecord | None = None
        self.last_received = time.monotonic()
        self.pinged_at = NEVER
        self.heartbeat_slot = -1
        """Where the node's heartbeat keeps this session while it is open (heartbeat.py)."""
        self.busy = False
        self._held: list[tuple[int, bytes]] = []
        self._sent_seq = 0
        self._receipt_seq = 0
        self._ending: tuple[CloseCode, str, ProtocolError | None] | None = None
        self._reading: asyncio.Task[object] | None = None
        """The connection's own task while it reads (``end()`` interrupts it)."""
        self._interrupted = False
        self._refused: list[float] = []
        """When recent frames were refused; a list, as an empty deque costs 760 bytes."""
        settings = node.settings
        self._bucket = TokenBucket(settings.signal_rate, settings.signal_burst)
        self._frames = TokenBucket(settings.frame_rate, 4 * settings.frame_rate)
        self._writer = Writer(
            socket.send_bytes,
            capacity=settings.outbound_queue,
            on_overflow=self._overflowed,
            transport=None if socket.compressed else socket.transport,
        )
        """Frames go to the socket directly, except on a connection that negotiated
        permessage-deflate: the WebSocket's own writer compresses them."""

    # What the fan-out and the node call.

    @property
    def device_id(self) -> str:
        return "" if self.identity is None else self.identity.device

    def deliver(self, seq: int, frame: bytes) -> None:
        """An event of the pair, in sequence order; held back until ``welcome`` is out."""
        if self.state is SessionState.HANDSHAKING:
            self._held.append((seq, frame))
            if len(self._held) > self._node.settings.outbound_queue:
                self.end(CloseCode.SLOW_CONSUMER, "too many events during the handshake")
            return
        if seq <= self._sent_seq or self.state is SessionState.CLOSED:
            return
        self._sent_seq = seq
        if self._writer.put(frame):
            EVENTS_DELIVERED.inc()

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None:
        """Close the connection soon, from anywhere; the first reason wins.

        The close itself happens in the connection's own task (see ``run``):
        closing from another task while it reads would drop the TCP
        connection before the client can answer, and the client would see
        1006 instead of ``code``.
        """
        if self._ending is None:
            self._ending = (code, reason, error)
            reading = self._reading
            if reading is not None and reading is not asyncio.current_task():
                self._interrupted = reading.cancel()

    def ping(self, frame: bytes, now: float) -> None:
        """The heartbeat's ``ping`` (one encoded frame for every session of its tick)."""
        self.pinged_at = now
        self._writer.put_alone(frame)

    def goaway(self) -> None:
        if self.state is SessionState.OPEN:
            self._move(SessionState.DRAINING)
            self._send(Goaway(reason="shutdown", reconnect_in_ms=0))

    # The connection's life.

    async def run(self) -> None:
        CONNECTIONS.inc()
        try:
            await self._serve()
        finally:
            CONNECTIONS.dec()
            await self._finish()

    async def _serve(self) -> None:
        if self._socket.subprotocol != SUBPROTOCOL:
            await self._socket.close(CloseCode.UNSUPPORTED_PROTOCOL, b"use heartline.v1")
            return
        hello = await self._receive_hello()
        if hello is None:
            return
        async with self._node.overload.opening():
            if self._socket.close_code is not None:
                return  # the device gave up while its session waited its turn
            if not await self._open(hello):
                return
        if self._ending is None:
            await self._read_until_ended()
        if self._ending is not None:
            await self._close(*self._ending)

    async def _read_until_ended(self) -> None:
        """Read in the connection's own task (a task of its own would cost each idle
        connection about a kilobyte), until the client closes or ``end()`` is called.

        ``end()`` from elsewhere interrupts the read by cancelling this task;
        that one cancellation is absorbed here, any other (the hub shutting
        down) goes on. ``end()`` from within the read loop just stops it.
        """
        task = asyncio.current_task()
        assert task is not None
        self._reading = task
        try:
            while self._ending is None:
                message = await self._socket.receive()
                if message.kind is Kind.CLOSED:
                    return
                await self._take(message)
        except asyncio.CancelledError:
            if not self._interrupted or task.uncancel() > 0:
                raise
        finally:
            self._reading = None

    async def _take(self, message: Message) -> None:
        if not self._counted():
            return
        if message.kind is Kind.BINARY:
            await self._handle(message.data, message.decoded)
        else:
            self._refuse(ProtocolError(ErrorCode.BAD_FRAME, "text messages are not frames"))

    def _on_binary(self, data: bytes) -> object:
        """A message that arrived while the read loop waits: a ``pong`` or ``ping`` ends here.

        Called from the socket's callback (websocket.py), so no task wakes up
        for the commonest frames of an idle connection. Anything else is only
        decoded, and handled by the read loop in order; a frame that does not
        decode is left for the read loop to refuse.
        """
        if self._ending is not None or self.state is not SessionState.OPEN:
            return None
        try:
            frame = decode_from_client(data, self._node.limits)
        except ProtocolError:
            return None
        if isinstance(frame, Pong):
            self._counted()
            return HANDLED
        if not isinstance(frame, Ping):
            return frame
        if self._counted():
            self._pong(frame)
        return HANDLED

    def _counted(self) -> bool:
        """A frame arrived: the client is alive; False (and the end) past the frame rate."""
        self.last_received = time.monotonic()
        if self._frames.take():
            self.end(CloseCode.POLICY_VIOLATION, "far more frames than a client needs")
            return False
        return True

    def _pong(self, ping: Ping) -> None:
        self._writer.put_alone(encode_pong(ping.t, now_ms()))

    async def _receive_hello(self) -> Hello | None:
        try:
            message = await self._socket.receive(timeout=self._node.settings.handshake_timeout_s)
        except TimeoutError:
            await self._close(CloseCode.HANDSHAKE_TIMEOUT, "no hello", None)
            return None
        if message.kind is Kind.CLOSED:
            return None
        try:
            frame = decode_from_client(message.data, self._node.limits)
            if not isinstance(frame, Hello):
                raise ProtocolError(ErrorCode.BAD_FRAME, "the first frame must be hello")
        except ProtocolError as error:
            if error.field == "token":
                await self._refuse_token()
            else:
                await self._refuse_handshake(error, CloseCode.BAD_HANDSHAKE)
            return None
        return frame

    async def _refuse_token(self) -> None:
        """One answer for every bad token (malformed, unknown, revoked): nothing to learn from."""
        invalid = ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token")
        await self._refuse_handshake(invalid, CloseCode.UNAUTHORIZED)

    async def _open(self, hello: Hello) -> bool:
        """Authenticate, join the pair's room, send welcome and what was missed."""
        try:
            identity = await authenticate(self._node.store, hello.token)
            if identity is None:
                await self._refuse_token()
                return False
            self.identity = identity
            structlog.contextvars.bind_contextvars(pair=identity.pair, device=identity.device)
            await self._node.fanout.attach(identity.pair, self)
            snapshot = await self._node.journal.reload(identity.pair)
            await self._welcome(snapshot, hello.resume)
        except StoreUnavailable:
            await self._refuse_handshake(
                ProtocolError(ErrorCode.UNAVAILABLE, "storage unavailable", retry_after_ms=1000),
                CloseCode.UNAVAILABLE,
            )
            return False
        except PairGone:
            await self._close(CloseCode.UNPAIRED, "unpaired", None)
            return False
        self.last_received = time.monotonic()
        self._move(SessionState.OPEN)
        self._socket.on_binary = self._on_binary
        self._node.sessions.add(self)
        self._node.heartbeat.join(self)
        self._writer.start()
        for seq, frame in self._held:
            self.deliver(seq, frame)
        self._held.clear()
        log.info(
            "session_open", session=self.id, agent=hello.agent, resumed=hello.resume is not None
        )
        await self._come_online()
        return True

    async def _come_online(self) -> None:
        """Announce presence; a database blip here must not end a healthy session.

        Presence is reconciled again at the next change of who is online.
        """
        try:
            await self._announce_presence(online=True)
        except StoreUnavailable:
            log.warning("presence_unavailable", session=self.id)
        except PairGone:
            self.end(CloseCode.UNPAIRED, "unpaired")

    async def restore_presence(self) -> None:
        """Mark this open connection online again: another hub may have swept it as dead.

        Raises ``StoreUnavailable``, for the caller to try again later.
        """
        if self.state is not SessionState.OPEN:
            return
        try:
            await self._announce_presence(online=True)
        except PairGone:
            self.end(CloseCode.UNPAIRED, "unpaired")

    async def _welcome(self, snapshot: PairSnapshot, resume: Position | None) -> None:
        assert self.identity is not None
        position = Position(snapshot.version, snapshot.epoch)
        resumed = resume is not None and can_resume(
            resume, log=position, first_seq=snapshot.first_seq
        )
        welcome = Welcome(
            pair=self.identity.pair,
            member=self.identity.member,
            partner=decisions.partner_of(snapshot.state, self.identity.member),
            device=self.identity.device,
            epoch=snapshot.epoch,
            server_time=now_ms(),
            heartbeat_ms=self._node.settings.heartbeat_ms,
            resumed=resumed,
            history_lost=resume is not None and not resumed,
            limits=self._node.limits,
            state=snapshot.state,
        )
        await self._socket.send_bytes(encode(welcome))
        if resumed and resume is not None:
            await self._replay(resume.seq, snapshot.version)
        self._sent_seq = snapshot.version

    async def _replay(self, after: int, through: int) -> None:
        assert self.identity is not None
        while after < through:
            page = await self._node.store.read_events(self.identity.pair, after, REPLAY_PAGE)
            for seq, frame in page:
                if seq > through:
                    return
                await self._socket.send_bytes(frame)
                after = seq
            if not page:
                return

    async def _finish(self) -> None:
        was_open = self.state is not SessionState.HANDSHAKING
        self._move(SessionState.CLOSED)
        self._socket.on_binary = None
        self._node.sessions.discard(self)
        self._node.heartbeat.leave(self)
        await self._writer.stop()
        if self.identity is not None:
            await self._node.fanout.detach(self.identity.pair, self)
            if was_open:
                async with self._node.overload.opening():
                    with contextlib.suppress(StoreUnavailable, PairGone):
                        await self._announce_presence(online=False)
        log.info("session_closed", session=self.id, code=self._socket.close_code)
        structlog.contextvars.unbind_contextvars("pair", "device")

    async def _close(self, code: CloseCode, reason: str, error: ProtocolError | None) -> None:
        """Send what is queued (not to a client that stopped reading), then close."""
        if error is not None:
            self._send(Error.from_exception(error))
        if code is CloseCode.SLOW_CONSUMER:
            await self._writer.stop()
        else:
            with contextlib.suppress(ConnectionError):
                await self._writer.flush_and_stop(timeout=1.0)
        try:
            await asyncio.wait_for(self._socket.close(code, reason.encode()), CLOSE_S)
        except TimeoutError:
            if self._socket.transport is not None:
                self._socket.transport.abort()

    # Frames from the client.

    async def _handle(self, data: bytes, decoded: object = None) -> None:
        request_id = None
        try:
            frame = decoded if decoded is not None else decode_from_client(data, self._node.limits)
            request_id = getattr(frame, "id", None)
            await self._dispatch(frame)
        except ProtocolError as error:
            self._refuse(error)
        except StoreUnavailable:
            self._refuse(
                ProtocolError(
                    ErrorCode.UNAVAILABLE,
                    "storage unavailable, retry with the same id",
                    id=request_id,
                    retry_after_ms=1000,
                )
            )
        except PairGone:
            self.end(CloseCode.UNPAIRED, "unpaired")

    async def _dispatch(self, frame: object) -> None:
        if isinstance(frame, Signal):
            await self._signal(frame)
        elif isinstance(frame, Received):
            await self._received(frame)
        elif isinstance(frame, Sync):
            await self._sync(frame)
        elif isinstance(frame, Ping):
            self._pong(frame)
        elif isinstance(frame, Hello):
            raise ProtocolError(ErrorCode.BAD_FRAME, "hello was already sent")

    async def _signal(self, signal: Signal) -> None:
        identity = self._identity()
        if self.state is SessionState.DRAINING and identity.scope.may_signal:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "the hub is draining, resend after reconnecting",
                id=signal.id, retry_after_ms=0,
            )  # fmt: skip
        admit(self._node, identity, signal.id, self._bucket)
        self.busy = True
        try:
            await store_signal(self._node, identity, signal, self._answer_for(signal.id))
        finally:
            self.busy = False

    def _answer_for(self, signal_id: str) -> Callable[[Recorded], None]:
        def answer(recorded: Recorded) -> None:
            self._writer.put(encode_signal_result(signal_id, recorded.frame))

        return answer

    async def _received(self, frame: Received) -> None:
        identity = self._identity()
        if frame.seq > self._sent_seq:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"seq: {frame.seq} is past the last event sent ({self._sent_seq})",
                field="seq",
            )
        if frame.seq <= self._receipt_seq:
            return
        self._receipt_seq = frame.seq
        await self._node.journal.record(
            identity.pair, decisions.receipt(identity.member, identity.device, frame.seq)
        )

    async def _sync(self, sync: Sync) -> None:
        identity = self._identity()
        snapshot = await self._node.journal.snapshot(identity.pair)
        if not snapshot.first_seq - 1 <= sync.after <= snapshot.version:
            self._send(Snapshot(epoch=snapshot.epoch, state=snapshot.state, reason="history_lost"))
            self._send(Result(id=sync.id, last=snapshot.version, more=False))
            return
        limit = min(sync.limit or 100, self._node.settings.outbound_queue // 2)
        events = await self._node.store.read_events(identity.pair, sync.after, limit + 1)
        for _, frame in events[:limit]:
            self._writer.put(frame)
        last = events[min(limit, len(events)) - 1][0] if events else sync.after
        self._send(Result(id=sync.id, last=last, more=len(events) > limit))

    async def _announce_presence(self, *, online: bool) -> None:
        identity = self._identity()
        await presence.announce(self._node, identity, self.id, online=online)

    # Helpers.

    def _identity(self) -> TokenRecord:
        assert self.identity is not None
        return self.identity

    def _send(self, frame: Result | Error | Pong | Goaway | Snapshot | Event) -> None:
        self._writer.put(encode(frame))

    def _refuse(self, error: ProtocolError) -> None:
        """Answer a refused frame; a client that keeps sending bad ones is cut off.

        Refusals that are the hub's own fault (``unavailable``, ``internal``)
        do not count against the client.
        """
        ERRORS.labels(error.code.value).inc()
        log.info("frame_refused", session=self.id, code=error.code.value, field=error.field)
        self._send(Error.from_exception(error))
        if error.code in _HUBS_FAULT:
            return
        now = time.monotonic()
        self._refused = [at for at in self._refused if at >= now - REFUSED_WINDOW_S]
        self._refused.append(now)
        if len(self._refused) > self._node.settings.refused_frames_limit:
            self.end(CloseCode.POLICY_VIOLATION, "too many refused frames")

    async def _refuse_handshake(self, error: ProtocolError, code: CloseCode) -> None:
        ERRORS.labels(error.code.value).inc()
        log.info("handshake_refused", session=self.id, code=error.code.value, close=code.value)
        with contextlib.suppress(ConnectionError):
            await self._socket.send_bytes(encode(Error.from_exception(error)))
        await self._socket.close(code, error.code.value.encode())

    def _overflowed(self) -> None:
        log.warning("slow_consumer", session=self.id)
        self.end(CloseCode.SLOW_CONSUMER, "slow consumer")

    def _move(self, state: SessionState) -> None:
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"session cannot go from {self.state} to {state}")
        self.state = state
