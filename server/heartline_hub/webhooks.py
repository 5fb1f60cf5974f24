"""Webhooks: each event of a pair POSTed to a URL a member registered, for push relays.

Registering (``full`` token): ``POST /v1/webhooks`` with ``{"url",
"include_notes"}`` answers the webhook's id and its signing secret, shown
once; ``GET /v1/webhooks`` lists the member's webhooks (with where delivery
stands), ``DELETE /v1/webhooks/{id}`` removes one. A URL is ``https``, or
``http`` to a loopback address for development.

Delivery. The pair's log is the queue: each webhook keeps the sequence
number of the last event its URL accepted (a cursor in the pair's hash),
and a delivery loop on every hub sends each webhook the events after its
cursor, in order, one at a time, moving the cursor on a ``2xx``. So a
delivery survives a hub restart (another hub, or the same one started
again, goes on from the cursor) and none is lost while the event is kept
(``--retention-days``); one hub at a time delivers to each webhook (a
lease), and a URL that fails holds up no other. A failure is retried with
exponential backoff (1 s doubling to 60 s); a URL still failing after
``--webhook-give-up-s`` (a day by default) is disabled: the member's
devices get a ``webhook_disabled`` event (SPEC.md 6.2), and ``GET
/v1/webhooks`` says why. A delivery can arrive twice
(a hub that dies after the POST and before moving the cursor): each carries
the event's id, by which a receiver drops a repeat.

Each POST (``application/json``) holds ``{"webhook", "pair", "event"}``, the
event as SPEC.md 4.5 shows it, its ``note``, ``reply`` and ``wish`` only if
the webhook was registered with ``include_notes``. Headers:
``Heartline-Webhook-Id``, ``Heartline-Event-Id``, and
``Heartline-Signature: t=<unix seconds>,v1=<hex>``, the HMAC-SHA256 with the
secret of ``<t>.<body>``. A receiver recomputes it, compares in constant
time, and refuses a ``t`` more than five minutes from its clock (a replayed
delivery); ``heartline.webhooks.verify`` in the Python client does both.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp import web

from heartline_protocol import ErrorCode, Event, decode_from_hub

from . import decisions
from .auth import new_id
from .beat import sleep_to_beat
from .clock import now_ms
from .http_api import ApiError, identity_of, json_body, json_errors
from .journal import PairGone
from .node import Node
from .store import StoreUnavailable, WebhookRecord
from .tasks import cancel_and_wait

__all__ = ["PRIVATE_FIELDS", "Webhooks", "add_routes", "sign"]

log = structlog.get_logger(__name__)

MAX_URL_CHARS = 2048
MAX_WEBHOOKS_PER_MEMBER = 5
PRIVATE_FIELDS = ("note", "reply", "wish")
"""What a webhook registered without ``include_notes`` never sends."""
LEASE_MS = 15_000
BACKOFF_S = (1.0, 60.0)
PAGE = 100


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Heartline-Signature`` header of a delivery."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def add_routes(app: web.Application, node: Node) -> None:
    api = _Api(node)
    app.router.add_post("/v1/webhooks", json_errors(api.register))
    app.router.add_get("/v1/webhooks", json_errors(api.list))
    app.router.add_delete("/v1/webhooks/{webhook}", json_errors(api.remove))


class _Api:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def register(self, request: web.Request) -> web.Response:
        identity = await identity_of(self._node, request, manage=True)
        body = await json_body(request)
        url = _checked_url(body.get("url"))
        include_notes = body.get("include_notes", False)
        if not isinstance(include_notes, bool):
            raise ApiError(ErrorCode.INVALID_FIELD, "include_notes: true or false")
        store = self._node.store
        mine = [r for r, _ in await store.webhooks(identity.pair) if r.member == identity.member]
        if len(mine) >= MAX_WEBHOOKS_PER_MEMBER:
            raise ApiError(ErrorCode.CONFLICT, f"at most {MAX_WEBHOOKS_PER_MEMBER} webhooks each")
        record = WebhookRecord(
            id=new_id("wh"),
            member=identity.member,
            url=url,
            secret="whsec_" + secrets.token_urlsafe(32),
            include_notes=include_notes,
            created=now_ms(),
        )
        snapshot = await self._node.journal.reload(identity.pair)
        await store.add_webhook(identity.pair, record, snapshot.version)
        return web.json_response({**_shown(record, snapshot.version), "secret": record.secret},
                                 status=201)  # fmt: skip

    async def list(self, request: web.Request) -> web.Response:
        identity = await identity_of(self._node, request)
        webhooks = await self._node.store.webhooks(identity.pair)
        shown = [_shown(r, cursor) for r, cursor in webhooks if r.member == identity.member]
        return web.json_response({"webhooks": shown})

    async def remove(self, request: web.Request) -> web.Response:
        identity = await identity_of(self._node, request, manage=True)
        webhook_id = request.match_info["webhook"]
        mine = {r.id for r, _ in await self._node.store.webhooks(identity.pair)
                if r.member == identity.member}  # fmt: skip
        if webhook_id not in mine:
            raise ApiError(ErrorCode.NOT_FOUND, "webhook: no such webhook of yours")
        await self._node.store.remove_webhook(identity.pair, webhook_id)
        return web.Response(status=204)


class _Lease:
    """This hub's right to deliver to one webhook, renewed only when a third of it has passed.

    Its length is at least three times the time a POST may take, so that the
    renewal before each event, at most a third old, outlasts the POST after it.
    """

    def __init__(self, node: Node, pair: str, webhook_id: str) -> None:
        self._node = node
        self._pair = pair
        self._webhook_id = webhook_id
        self.ttl_ms = max(LEASE_MS, int(3000 * node.settings.webhook_timeout_s))
        self._renewed = -float("inf")

    async def held(self) -> bool:
        """Whether this hub still holds the lease (taking or renewing it when due)."""
        if time.monotonic() - self._renewed < self.ttl_ms / 3000:
            return True
        store, hub_id = self._node.store, self._node.hub_id
        if not await store.lease_webhook(self._pair, self._webhook_id, hub_id, self.ttl_ms):
            return False
        self._renewed = time.monotonic()
        return True


class Webhooks:
    """The delivery loop of one hub: the pairs whose webhooks are behind, one task each."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        """Set when the hub stops: deliveries end, and a retry's wait ends at once."""
        self._caught_up: dict[str, int] = {}
        """Pairs whose every webhook had the events through this version, at the last look."""

    def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._node.settings.webhook_timeout_s)
        )
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Let a delivery in flight finish (a drained hub sends nothing twice), then stop."""
        self._stopping.set()
        await cancel_and_wait(self._loop_task)
        if self._deliveries:
            await asyncio.wait(
                tuple(self._deliveries.values()), timeout=self._node.settings.webhook_timeout_s
            )
        for task in tuple(self._deliveries.values()):
            await cancel_and_wait(task)
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        interval = self._node.settings.webhook_poll_ms / 1000
        while True:
            try:
                await self._start_deliveries()
            except StoreUnavailable as error:
                log.warning("webhooks_unavailable", error=str(error))
            await sleep_to_beat(interval)

    async def _start_deliveries(self) -> None:
        """A task for each webhook behind its pair's log that no hub is delivering to.

        A pair whose version has not moved since every webhook of it was
        found caught up is not read again: a quiet pair costs a scan one
        pipelined version read, not a read of its webhooks.
        """
        store = self._node.store
        pairs = await store.webhook_pairs()
        registered = set(pairs)
        self._caught_up = {p: v for p, v in self._caught_up.items() if p in registered}
        if not pairs:
            return
        for pair, version in zip(pairs, await store.versions(pairs), strict=True):
            if self._caught_up.get(pair) == version:
                continue
            behind = [(r, c) for r, c in await store.webhooks(pair)
                      if r.disabled is None and c < version]  # fmt: skip
            if not behind:
                self._caught_up[pair] = version
            for record, _ in behind:
                if (pair, record.id) not in self._deliveries:
                    self._start_delivery(pair, record)

    def _start_delivery(self, pair: str, record: WebhookRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(pair, record))
        key = (pair, record.id)
        self._deliveries[key] = task
        task.add_done_callback(functools.partial(self._delivered, key))

    def _delivered(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._deliveries.get(key) is task:
            del self._deliveries[key]

    async def _deliver(self, pair: str, record: WebhookRecord) -> None:
        """Take the webhook's lease, then deliver from its cursor as it stands then.

        The lease is taken here, in the task whose ``finally`` gives it back,
        so a hub stopping at any point leaves no lease behind. The cursor is
        read under the lease: another hub may have moved it on meanwhile.
        """
        store = self._node.store
        lease = _Lease(self._node, pair, record.id)
        try:
            if not await lease.held():
                return
            current = {r.id: (r, c) for r, c in await store.webhooks(pair)}.get(record.id)
            if current is not None and current[0].disabled is None:
                await self._catch_up(pair, *current, lease)
        except StoreUnavailable as error:
            log.warning("webhook_delivery_unavailable", pair=pair, error=str(error))
        finally:
            with contextlib.suppress(StoreUnavailable):
                await store.release_webhook(pair, record.id, self._node.hub_id)

    async def _catch_up(self, pair: str, record: WebhookRecord, cursor: int, lease: _Lease) -> None:
        store = self._node.store
        while True:
            snapshot = await self._node.journal.reload(pair)
            if cursor < snapshot.first_seq - 1:
                log.warning("webhook_history_trimmed", pair=pair, webhook=record.id)
                cursor = snapshot.first_seq - 1
            events = await store.read_events(pair, cursor, PAGE)
            if not events:
                return
            for seq, frame in events:
                if self._stopping.is_set() or not await lease.held():
                    return
                if not await self._send(pair, record, frame, lease):
                    return
                await store.webhook_delivered(pair, record.id, seq)
                cursor = seq

    async def _send(self, pair: str, record: WebhookRecord, frame: bytes, lease: _Lease) -> bool:
        """Deliver one event, retrying with backoff; False once the webhook is disabled,
        the hub stops, or the lease is lost."""
        event = decode_from_hub(frame)
        assert isinstance(event, Event)
        body = json.dumps({"webhook": record.id, "pair": pair,
                           "event": _payload(event, record.include_notes)}).encode()  # fmt: skip
        delay, failing_since = BACKOFF_S[0], time.monotonic()
        while True:
            error = await self._post(record, event, body)
            if error is None:
                return True
            if time.monotonic() - failing_since > self._node.settings.webhook_give_up_s:
                await self._disable(pair, record, error)
                return False
            log.info("webhook_retry", pair=pair, webhook=record.id, error=error, in_s=delay)
            if not await _pause(lease, delay, self._stopping):
                return False
            delay = min(delay * 2, BACKOFF_S[1])

    async def _post(self, record: WebhookRecord, event: Event, body: bytes) -> str | None:
        """None when the URL accepted the delivery, else what went wrong."""
        assert self._http is not None
        headers = {
            "Content-Type": "application/json",
            "Heartline-Webhook-Id": record.id,
            "Heartline-Event-Id": event.id,
            "Heartline-Signature": sign(record.secret, int(time.time()), body),
        }
        try:
            async with self._http.post(record.url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return type(error).__name__

    async def _disable(self, pair: str, record: WebhookRecord, error: str) -> None:
        reason = f"failing since more than {self._node.settings.webhook_give_up_s:g} s: {error}"
        log.warning("webhook_disabled", pair=pair, webhook=record.id, error=error)
        await self._node.store.save_webhook(pair, replace(record, disabled=reason))
        with contextlib.suppress(PairGone):
            await self._node.journal.record(
                pair, decisions.webhook_disabled(record.member, record.id)
            )


async def _pause(lease: _Lease, seconds: float, stopping: asyncio.Event) -> bool:
    """Wait before a retry, keeping the lease (shorter than the longest wait) meanwhile;
    False if the lease was lost (two hubs never deliver to one webhook) or the hub stops."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), min(left, lease.ttl_ms / 3000))
        if stopping.is_set() or not await lease.held():
            return False
    return True


def _payload(event: Event, include_notes: bool) -> dict[str, Any]:
    shown = event.to_map()
    if not include_notes:
        for name in PRIVATE_FIELDS:
            shown.pop(name, None)
    return shown


def _shown(record: WebhookRecord, cursor: int) -> dict[str, Any]:
    return {
        "id": record.id,
        "url": record.url,
        "include_notes": record.include_notes,
        "created": record.created,
        "delivered_through": cursor,
        "status": "active" if record.disabled is None else "disabled",
        "disabled_because": record.disabled,
    }


def _checked_url(url: Any) -> str:
    """An ``https`` URL, or ``http`` to a loopback address (development)."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS:
        raise ApiError(ErrorCode.INVALID_FIELD, f"url: a URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise ApiError(ErrorCode.INVALID_FIELD, "url: not a valid URL") from None
    if not host:
        raise ApiError(ErrorCode.INVALID_FIELD, "url: not a valid URL")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return url
    raise ApiError(ErrorCode.INVALID_FIELD, "url: https, or http to a loopback address")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
