"""The event history over HTTP: a page of a pair's past events, for a timeline.

``GET /v1/events?after=<seq>&limit=<n>`` answers the stored events after
``after`` (0: from the first kept), at most ``limit`` (1 to 100, 50 by
default), in order, each as SPEC.md 4.5 shows an event; ``last`` is the
sequence number to ask after next, ``more`` whether more follow it. The
position rules are the WebSocket's ``sync`` (SPEC.md 7.4): ``after`` must
lie within the kept history of this epoch; when it does not (history
trimmed after 30 days, or a position from another epoch) the page starts
at the first kept event with ``history_lost: true``, never a silent gap.
Any token of the pair may read it. JSON, or msgpack on request.
"""

from __future__ import annotations

from aiohttp import web

from heartline_protocol import ErrorCode, Event, decode_from_hub

from .http_api import ApiError, identity_of, json_errors, negotiated, query_int
from .node import Node

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "add_routes"]

DEFAULT_PAGE = 50
MAX_PAGE = 100


def add_routes(app: web.Application, node: Node) -> None:
    app.router.add_get("/v1/events", json_errors(_History(node).page))


class _History:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def page(self, request: web.Request) -> web.Response:
        identity = await identity_of(self._node, request)
        after = query_int(request, "after")
        limit = query_int(request, "limit", DEFAULT_PAGE)
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(ErrorCode.INVALID_FIELD, f"limit: from 1 to {MAX_PAGE}")
        snapshot = await self._node.journal.reload(identity.pair)
        history_lost = not snapshot.first_seq - 1 <= after <= snapshot.version
        if history_lost:
            after = snapshot.first_seq - 1
        stored = await self._node.store.read_events(identity.pair, after, limit + 1)
        shown = [_event(frame) for _, frame in stored[:limit]]
        return negotiated(
            request,
            {
                "epoch": snapshot.epoch,
                "version": snapshot.version,
                "history_lost": history_lost,
                "events": [event.to_map() for event in shown],
                "last": shown[-1].seq if shown else after,
                "more": len(stored) > limit,
            },
        )


def _event(frame: bytes) -> Event:
    event = decode_from_hub(frame)
    assert isinstance(event, Event)
    return event
