"""Server-Sent Events: the pair's events for clients that read HTTP but hold no WebSocket.

1. ``POST /v1/stream/tickets`` with the bearer token: ``{"ticket", "expires_at"}``,
   single use, valid a minute. A browser's ``EventSource`` cannot send
   headers, and a token must never stand in a URL (logs, history,
   referrers keep URLs), so the stream is opened with a ticket instead.
2. ``GET /v1/stream?ticket=...``: ``text/event-stream``. Each event of the
   pair is a message whose ``id`` is its sequence number and whose ``data``
   is the event as SPEC.md 4.5 shows it, as JSON. A client resuming sends
   ``Last-Event-ID`` (or ``last_event_id=`` in the URL, for an
   ``EventSource`` opened anew with a fresh ticket) and gets every event
   after it, exactly as a WebSocket resume (SPEC.md 7.3). Without a
   position, or with one outside the kept history, the stream opens with
   an ``event: state`` message (the glance, with ``history_lost`` when a
   position could not be resumed) and goes on from there: never a silent gap.
   A comment line every heartbeat interval keeps proxies from closing it.

The stream listens to the pair's fan-out room like a WebSocket session. A
client that does not read is cut off when its queue of events is full; it
resumes and loses nothing. Revoking the device, unpairing or draining the
hub (SIGTERM) ends the stream; an ``EventSource`` reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

from aiohttp import web

from heartline_protocol import CloseCode, ErrorCode, Event, ProtocolError, decode_from_hub

from .auth import bearer_token, hash_secret
from .clock import now_ms
from .glance import glance_map
from .http_api import ApiError, identity_of, json_errors
from .node import Node
from .store import PairSnapshot, TokenRecord

__all__ = ["TICKET_PREFIX", "TICKET_TTL_S", "add_routes"]

TICKET_PREFIX = "hls_"
TICKET_TTL_S = 60
RETRY_MS = 2000
"""How long an ``EventSource`` waits before it reconnects (the ``retry`` field)."""
REPLAY_PAGE = 500


def add_routes(app: web.Application, node: Node) -> None:
    streams = _Streams(node)
    app.router.add_post("/v1/stream/tickets", json_errors(streams.ticket))
    app.router.add_get("/v1/stream", json_errors(streams.stream))


class _Listener:
    """The stream's place in the pair's fan-out room (fanout.Listener): events in order."""

    def __init__(self, device_id: str, capacity: int) -> None:
        self._device_id = device_id
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(capacity)
        self.ended: str | None = None

    @property
    def device_id(self) -> str:
        return self._device_id

    def deliver(self, seq: int, frame: bytes) -> None:
        try:
            self.queue.put_nowait((seq, frame))
        except asyncio.QueueFull:
            self.end(CloseCode.SLOW_CONSUMER, "slow consumer")

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None:
        del code, error
        if self.ended is None:
            self.ended = reason
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class _Streams:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def ticket(self, request: web.Request) -> web.Response:
        await identity_of(self._node, request)
        token_hash = hash_secret(bearer_token(request.headers) or "")
        ticket = TICKET_PREFIX + secrets.token_urlsafe(24)
        await self._node.store.save_stream_ticket(hash_secret(ticket), token_hash, TICKET_TTL_S)
        expires_at = now_ms() + TICKET_TTL_S * 1000
        return web.json_response({"ticket": ticket, "expires_at": expires_at}, status=201)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        identity = await self._redeem(request.query.get("ticket"))
        after = _position(request)
        listener = _Listener(identity.device, self._node.settings.outbound_queue)
        await self._node.fanout.attach(identity.pair, listener)
        self._node.streams.add(listener)
        try:
            snapshot = await self._node.journal.reload(identity.pair)
            response = await self._open(request)
            with contextlib.suppress(ConnectionResetError):
                sent = await self._start(response, identity, snapshot, after)
                await self._follow(response, listener, sent)
        finally:
            self._node.streams.discard(listener)
            await self._node.fanout.detach(identity.pair, listener)
        return response

    async def _redeem(self, ticket: str | None) -> TokenRecord:
        if not ticket or not ticket.startswith(TICKET_PREFIX) or len(ticket) > 64:
            raise ApiError(ErrorCode.UNAUTHORIZED, "ticket: a valid stream ticket is required")
        identity = await self._node.store.redeem_stream_ticket(hash_secret(ticket))
        if identity is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "ticket: unknown, used or expired")
        return identity

    async def _open(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        return response

    async def _start(
        self,
        response: web.StreamResponse,
        identity: TokenRecord,
        snapshot: PairSnapshot,
        after: int | None,
    ) -> int:
        """Replay what a resuming client missed, or open with the state; the last seq sent."""
        resumable = after is not None and snapshot.first_seq - 1 <= after <= snapshot.version
        if after is None or not resumable:
            state = {**glance_map(identity, snapshot, now_ms()), "history_lost": after is not None}
            await response.write(_message(state, event="state"))
            return snapshot.version
        while after < snapshot.version:
            page = await self._node.store.read_events(identity.pair, after, REPLAY_PAGE)
            if not page:
                break
            for seq, frame in page:
                await response.write(_event_message(seq, frame))
                after = seq
        return after

    async def _follow(self, response: web.StreamResponse, listener: _Listener, sent: int) -> None:
        heartbeat_s = self._node.settings.heartbeat_ms / 1000
        while listener.ended is None:
            try:
                item = await asyncio.wait_for(listener.queue.get(), heartbeat_s)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if item is None:
                return
            seq, frame = item
            if seq > sent:
                await response.write(_event_message(seq, frame))
                sent = seq


def _position(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 16:
        raise ApiError(ErrorCode.INVALID_FIELD, "Last-Event-ID: a sequence number")
    return int(raw)


def _event_message(seq: int, frame: bytes) -> bytes:
    event = decode_from_hub(frame)
    assert isinstance(event, Event)
    return _message(event.to_map(), id=seq)


def _message(data: dict[str, Any], *, event: str | None = None, id: int | None = None) -> bytes:
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()
