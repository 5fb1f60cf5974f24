"""The glance: a pair's state for a widget or a watch, over plain HTTP.

``GET /v1/glance`` answers what a home-screen widget or a watch face draws
at once: who is who, each member's status (a space carries its ``until``,
so the face counts down and flips to "check-in due" on its own), who is
online, the open bids and check-ins, and the version. Any token of the pair
may read it, a ``read``-scoped widget token too.

- JSON by default; msgpack when ``Accept`` names ``application/msgpack``.
- A weak ``ETag`` names the version (``W/"<epoch>.<version>"``); a request
  whose ``If-None-Match`` still matches gets ``304 Not Modified``, which
  costs a widget's refresh budget nothing.
- Long poll: with ``wait=<seconds>`` and a known version (``version=<n>``,
  or the ``If-None-Match`` of the last answer) the hub answers as soon as
  the pair's version moves past it, and with ``304`` once ``wait`` is over.
  ``wait`` is capped by ``--glance-wait-max-s`` (30 s by default), under
  the idle timeouts of ordinary proxies.

The long poll listens to the pair's room like a WebSocket session does
(fanout.py), so it wakes when any hub stores an event of the pair.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiohttp.helpers import ETag

from heartline_protocol import CloseCode, ProtocolError

from .clock import now_ms
from .http_api import identity_of, json_errors, negotiated, query_int, query_number
from .node import Node
from .store import PairSnapshot, TokenRecord

__all__ = ["add_routes", "glance_map"]


def add_routes(app: web.Application, node: Node) -> None:
    app.router.add_get("/v1/glance", json_errors(_Glance(node).get))


def glance_map(identity: TokenRecord, snapshot: PairSnapshot, now: int) -> dict[str, Any]:
    """The compact state a widget renders (SPEC.md 6.3 for the member and bid fields)."""
    state = snapshot.state
    return {
        "pair": identity.pair,
        "member": identity.member,
        "version": state.version,
        "epoch": snapshot.epoch,
        "server_time": now,
        "members": [member.to_map() for member in state.members],
        "open_bids": [bid.to_map() for bid in state.open_bids],
    }


class _Waiter:
    """Wakes a long poll once the pair's room forwards an event past the known version.

    What a fan-out room needs of a listener (fanout.Listener); the room also
    ends it when its device is revoked or the pair unpaired.
    """

    def __init__(self, device_id: str) -> None:
        self._device_id = device_id
        self._seen = 0
        self._after: int | None = None
        self.woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended = False

    @property
    def device_id(self) -> str:
        return self._device_id

    def wake_past(self, version: int) -> None:
        """From now on, wake for an event after ``version`` (or at once for one seen)."""
        self._after = version
        self._wake_if_past()

    def deliver(self, seq: int, frame: bytes) -> None:
        del frame
        self._seen = max(self._seen, seq)
        self._wake_if_past()

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None:
        del code, reason, error
        self.ended = True
        if not self.woken.done():
            self.woken.set_result(None)

    def _wake_if_past(self) -> None:
        if self._after is not None and self._seen > self._after and not self.woken.done():
            self.woken.set_result(None)


class _Glance:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def get(self, request: web.Request) -> web.StreamResponse:
        identity = await identity_of(self._node, request)
        wait_s = query_number(request, "wait", 0.0)
        wait_s = min(wait_s, self._node.settings.glance_wait_max_s)
        known = None if "version" not in request.query else query_int(request, "version")
        if wait_s > 0 and (known is not None or request.if_none_match):
            snapshot, changed = await self._wait(request, identity, known, wait_s)
            if not changed:
                return _not_modified(snapshot)
        else:
            snapshot = await self._node.journal.reload(identity.pair)
        if _matches(request, snapshot):
            return _not_modified(snapshot)
        return _answer(request, glance_map(identity, snapshot, now_ms()), snapshot)

    async def _wait(
        self, request: web.Request, identity: TokenRecord, known: int | None, wait_s: float
    ) -> tuple[PairSnapshot, bool]:
        """The snapshot once the version passed ``known`` (or the ETag's), or after ``wait_s``.

        The waiter joins the pair's room before the snapshot is read, so an
        event stored in between wakes it rather than being missed.
        """
        fanout = self._node.fanout
        waiter = _Waiter(identity.device)
        await fanout.attach(identity.pair, waiter)
        try:
            snapshot = await self._node.journal.reload(identity.pair)
            if known is None:
                if not _matches(request, snapshot):
                    return snapshot, True
                known = snapshot.version
            elif known != snapshot.version:
                return snapshot, True
            waiter.wake_past(known)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter.woken), wait_s)
        finally:
            await fanout.detach(identity.pair, waiter)
        if waiter.ended:
            await identity_of(self._node, request)
        if not waiter.woken.done():
            return snapshot, False
        return await self._node.journal.reload(identity.pair), True


def _etag(snapshot: PairSnapshot) -> ETag:
    return ETag(value=f"{snapshot.epoch}.{snapshot.version}", is_weak=True)


def _matches(request: web.Request, snapshot: PairSnapshot) -> bool:
    """Whether the request's ``If-None-Match`` names this version (weak comparison)."""
    wanted = request.if_none_match
    if not wanted:
        return False
    current = _etag(snapshot).value
    return any(tag.value in {current, "*"} for tag in wanted)


def _not_modified(snapshot: PairSnapshot) -> web.Response:
    response = web.Response(status=304)
    response.etag = _etag(snapshot)
    response.headers["Vary"] = "Accept"
    return response


def _answer(request: web.Request, body: dict[str, Any], snapshot: PairSnapshot) -> web.Response:
    response = negotiated(request, body)
    response.etag = _etag(snapshot)
    response.headers["Cache-Control"] = "no-cache"
    return response
