"""A connection to a hub that survives real networks (SPEC.md 7).

One task owns the WebSocket: it connects, says ``hello`` (with the last
position, to resume), reads frames, answers the hub's pings (and pings only
when it has heard nothing for a while, SPEC.md 7.7), and when the
connection ends for a temporary reason it waits (exponential backoff with
full jitter, or at once after ``goaway``) and connects again. Terminal close
codes end the session for good.

Calls (signals, syncs) go through an ordered outbox keyed by their client
message id. A call stays in the outbox until the hub answers it; after a
reconnect everything still there is sent again with the same ids, so the hub
stores each one exactly once (SPEC.md 7.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from heartline_protocol import (
    MAX_HUB_FRAME_BYTES,
    SUBPROTOCOL,
    CloseCode,
    Error,
    ErrorCode,
    Event,
    Goaway,
    Hello,
    HubFrame,
    Ping,
    Pong,
    ProtocolError,
    Received,
    Result,
    Signal,
    Snapshot,
    Sync,
    Welcome,
    decode_from_hub,
    encode,
)

from .backoff import Backoff
from .errors import HubError, NotDelivered, OutboxFull, SessionEnded
from .state import SharedState, _local_ms

__all__ = ["Connection", "Options"]

log = logging.getLogger("heartline")

RECEIPT_DELAY_S = 0.1
HANDSHAKE_TIMEOUT_S = 10.0
WELCOME_TIMEOUT_S = 30.0
"""A hub in a reconnect storm opens sessions a few at a time, in order (SPEC.md 7.1)."""
_RESENT_AFTER = {ErrorCode.UNAVAILABLE.value, ErrorCode.INTERNAL.value}


@dataclass(frozen=True, slots=True)
class Options:
    """How the connection behaves; every field has a sensible default."""

    backoff: Backoff = field(default_factory=Backoff)
    call_timeout: float = 30.0
    """Seconds a call may wait for a connection and an answer before NotDelivered."""
    outbox_limit: int = 100
    """Calls waiting at once; more raise OutboxFull."""
    connect_timeout: float = 15.0
    """Seconds :func:`heartline.connect` keeps trying before NotDelivered."""
    agent: str = "heartline-py/0.1"


@dataclass
class _Pending:
    frame: bytes
    answer: asyncio.Future[Result]


Listener = Callable[[Event], None]


class Connection:
    def __init__(self, url: str, token: str, options: Options | None = None) -> None:
        self._url = url
        self._token = token
        self._options = options or Options()
        self.shared: SharedState | None = None
        self.connected = asyncio.Event()
        self._outbox: OrderedDict[str, _Pending] = OrderedDict()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._welcomed: asyncio.Future[Welcome] | None = None
        self._ended: SessionEnded | None = None
        self._goaway = False
        self._turned_away_for = 0.0
        """Seconds the hub asked to wait (``retry_after_ms`` of a refused hello)."""
        self._last_heard = time.monotonic()
        self._receipt: asyncio.TimerHandle | None = None
        self.on_event: Listener = _ignore
        self.on_history_lost: Callable[[], None] = _nothing

    async def start(self) -> Welcome:
        """Connect, retrying with backoff, until the first welcome (or the connect timeout)."""
        timeout = self._options.connect_timeout
        loop = asyncio.get_running_loop()
        self._welcomed = loop.create_future()
        self._task = loop.create_task(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(self._welcomed), timeout)
        except TimeoutError:
            await self.close()
            raise NotDelivered(f"no connection to {self._url} within {timeout} s") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending(NotDelivered("the client was closed"))

    @property
    def ended(self) -> SessionEnded | None:
        return self._ended

    async def call(self, request_id: str, frame: Signal | Sync) -> Result:
        """Send a request and wait for its result, across reconnects, within the timeout."""
        if self._ended is not None:
            raise self._ended
        if len(self._outbox) >= self._options.outbox_limit:
            raise OutboxFull(f"{len(self._outbox)} calls are already waiting")
        pending = _Pending(encode(frame), asyncio.get_running_loop().create_future())
        self._outbox[request_id] = pending
        await self._send_if_connected(pending.frame)
        try:
            return await asyncio.wait_for(
                asyncio.shield(pending.answer), self._options.call_timeout
            )
        except TimeoutError:
            raise NotDelivered(
                f"{request_id}: no answer within {self._options.call_timeout} s"
            ) from None
        finally:
            self._outbox.pop(request_id, None)

    # The connection's life.

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with connect(
                    self._url,
                    subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                    ping_interval=None,
                    max_size=MAX_HUB_FRAME_BYTES,
                    open_timeout=HANDSHAKE_TIMEOUT_S,
                    close_timeout=2,
                ) as ws:
                    welcome = await self._handshake(ws)
                    attempt = 0
                    await self._serve(ws, welcome)
                self._check_terminal(ws.close_code, ws.close_reason or "")
            except ConnectionClosed as closed:
                code = None if closed.rcvd is None else closed.rcvd.code
                self._check_terminal(code, "" if closed.rcvd is None else closed.rcvd.reason)
            except (OSError, TimeoutError, InvalidHandshake) as error:
                log.info("heartline: connection failed: %s", error)
            except InvalidURI as error:
                self._end(SessionEnded(None, f"invalid hub URL: {error}"))
            finally:
                self._ws = None
                self.connected.clear()
            if self._ended is not None:
                return
            await asyncio.sleep(self._next_delay(attempt))
            attempt += 1

    def _next_delay(self, attempt: int) -> float:
        """The backoff's wait, never shorter than what a refusing hub asked for."""
        asked, self._turned_away_for = self._turned_away_for, 0.0
        if self._goaway:
            self._goaway = False
            return max(asked, self._options.backoff.delay(0) / 10)
        return max(asked, self._options.backoff.delay(attempt))

    async def _handshake(self, ws: ClientConnection) -> Welcome:
        resume = None if self.shared is None else self.shared.position
        await ws.send(encode(Hello(token=self._token, resume=resume, agent=self._options.agent)))
        first = await asyncio.wait_for(ws.recv(), WELCOME_TIMEOUT_S)
        if not isinstance(first, bytes):
            raise ProtocolError(ErrorCode.BAD_FRAME, "the hub sent text")
        frame = decode_from_hub(first)
        if isinstance(frame, Error):
            self._turned_away_for = (frame.retry_after_ms or 0) / 1000
            await ws.wait_closed()
            self._check_terminal(ws.close_code, ws.close_reason or frame.message)
            raise ConnectionError(f"refused by the hub: {frame.code}: {frame.message}")
        if not isinstance(frame, Welcome):
            raise ProtocolError(ErrorCode.BAD_FRAME, "the hub's first frame was not welcome")
        self._welcome(frame)
        self._ws = ws
        self._last_heard = time.monotonic()
        self.connected.set()
        for pending in tuple(self._outbox.values()):
            await ws.send(pending.frame)
        return frame

    def _welcome(self, welcome: Welcome) -> None:
        if self.shared is None:
            self.shared = SharedState.from_welcome(welcome)
        else:
            self.shared.replace(welcome, welcome.state, keep_position=welcome.resumed)
            if not welcome.resumed:
                self.on_history_lost()
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_result(welcome)

    async def _serve(self, ws: ClientConnection, welcome: Welcome) -> None:
        heartbeat = asyncio.get_running_loop().create_task(
            self._heartbeat(ws, welcome.heartbeat_ms / 1000)
        )
        try:
            async for message in ws:
                self._last_heard = time.monotonic()
                if isinstance(message, bytes):
                    await self._dispatch(ws, message)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        """Keep the connection as SPEC.md 7.7 asks of a client.

        One ping at once, for the hub's clock (the offset for countdowns);
        then the hub's pings, answered in ``_dispatch``, keep the connection.
        After hearing nothing for 1.25 intervals the client pings on its own,
        once; a hub silent for two intervals is gone.
        """
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(Ping(t=int(_local_ms()))))
        pinged_at = time.monotonic()
        while True:
            await asyncio.sleep(interval / 4)
            now = time.monotonic()
            silence = now - self._last_heard
            if silence > 2 * interval:
                log.info("heartline: no frame for two heartbeats, reconnecting")
                ws.transport.abort()
                return
            if silence >= 1.25 * interval and pinged_at < self._last_heard:
                log.debug("heartline: nothing heard for %.1f s, pinging the hub", silence)
                pinged_at = now
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(encode(Ping(t=int(_local_ms()))))

    # Frames from the hub.

    async def _dispatch(self, ws: ClientConnection, data: bytes) -> None:
        try:
            frame = decode_from_hub(data)
        except ProtocolError as error:
            log.warning("heartline: ignored a frame from the hub: %s", error.message)
            return
        if isinstance(frame, Event):
            self._event(frame)
        elif isinstance(frame, Result | Error):
            self._answer(frame)
        elif isinstance(frame, Pong) and frame.t is not None and frame.now is not None:
            self._shared().clock.sample(frame.t, frame.now, _local_ms())
        elif isinstance(frame, Ping):
            await ws.send(encode(Pong(t=frame.t)))
        else:
            self._other(frame)

    def _other(self, frame: HubFrame) -> None:
        if isinstance(frame, Goaway):
            self._goaway = True
        elif isinstance(frame, Snapshot):
            self._shared().replace(frame.epoch, frame.state, keep_position=False)
            self.on_history_lost()

    def _event(self, event: Event) -> None:
        if not self._shared().accept(event):
            return
        self.on_event(event)
        if self._receipt is None:
            self._receipt = asyncio.get_running_loop().call_later(
                RECEIPT_DELAY_S, self._send_receipt
            )

    def _send_receipt(self) -> None:
        self._receipt = None
        seq = self._shared().delivered_seq
        if seq > 0 and self._ws is not None:
            frame = encode(Received(seq=seq))
            asyncio.get_running_loop().create_task(self._send_if_connected(frame))

    def _fold_own_event(self, result: Result) -> None:
        """The stored event of our own signal, when its result came before the event frame.

        SPEC.md 4.4 lets either come first. Folded here only if it is the
        next event, so the state never skips one; the event frame that
        follows is then a repeat, and ignored like any other.
        """
        event = result.event
        if event is not None and event.seq == self._shared().delivered_seq + 1:
            self._event(event)

    def _answer(self, frame: Result | Error) -> None:
        pending = self._outbox.get(frame.id) if frame.id is not None else None
        if pending is None or pending.answer.done():
            if isinstance(frame, Error):
                log.warning("heartline: hub error %s: %s", frame.code, frame.message)
            return
        if isinstance(frame, Result):
            self._fold_own_event(frame)
            pending.answer.set_result(frame)
        elif frame.code in _RESENT_AFTER:
            delay = (frame.retry_after_ms or 100) / 1000
            asyncio.get_running_loop().call_later(delay, self._resend, pending)
        else:
            pending.answer.set_exception(HubError.from_frame(frame))

    def _resend(self, pending: _Pending) -> None:
        if not pending.answer.done():
            asyncio.get_running_loop().create_task(self._send_if_connected(pending.frame))

    # Helpers.

    async def _send_if_connected(self, frame: bytes) -> None:
        """Send now if connected; otherwise the outbox sends it after the next welcome."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frame)

    def _check_terminal(self, code: int | None, reason: str) -> None:
        if code is not None and 4500 <= code <= 4999:
            self._end(SessionEnded(code, reason or _close_name(code)))

    def _end(self, ended: SessionEnded) -> None:
        self._ended = ended
        self._fail_pending(ended)
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_exception(ended)

    def _fail_pending(self, error: Exception) -> None:
        for pending in self._outbox.values():
            if not pending.answer.done():
                pending.answer.set_exception(error)

    def _shared(self) -> SharedState:
        assert self.shared is not None
        return self.shared


def _close_name(code: int) -> str:
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "closed"


def _ignore(event: Event) -> None:
    del event


def _nothing() -> None:
    return
