"""The aiohttp application: routes, startup, drain and cleanup.

Routes: ``/v1/ws`` (the protocol, SPEC.md; listener.py serves most
upgrades before aiohttp sees them, this route the ones on a kept-alive
connection), the HTTP API under ``/v1``
(pairing and devices in http_api.py, the glance in glance.py, quick actions
in actions.py, the event history in history.py, Server-Sent Events in
sse.py, webhooks in webhooks.py), and the operator
endpoints ``/healthz`` (the process answers), ``/readyz`` (Redis answers,
pub/sub is connected, not draining) and ``/metrics`` (Prometheus); the
whole HTTP API is described by ``/v1/openapi.json`` (openapi.json here).
"""

from __future__ import annotations

import asyncio
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heartline_protocol import SUBPROTOCOL

from . import actions, glance, history, http_api, sse, webhooks
from .node import Node
from .session import Session
from .settings import Settings
from .store import Store, StoreUnavailable
from .websocket import AiohttpSocket

__all__ = ["NODE", "create_app"]

NODE = web.AppKey("node", Node)
WEBHOOKS = web.AppKey("webhooks", webhooks.Webhooks)
READY_TIMEOUT_S = 1.0


def create_app(settings: Settings, store: Store) -> web.Application:
    node = Node(settings, store)
    app = web.Application(client_max_size=64 * 1024)
    app[NODE] = node
    app.router.add_get("/v1/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/openapi.json", openapi)
    http_api.add_routes(app, node)
    glance.add_routes(app, node)
    actions.add_routes(app, node)
    history.add_routes(app, node)
    sse.add_routes(app, node)
    webhooks.add_routes(app, node)
    app[WEBHOOKS] = webhooks.Webhooks(node)
    app.on_startup.append(_start)
    app.on_shutdown.append(_drain)
    app.on_cleanup.append(_stop)
    return app


async def websocket(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    if node.draining:
        return http_api.error_response(503, "unavailable", "this hub is draining")
    ws = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,),
        max_msg_size=8 * node.settings.max_frame_bytes,
        timeout=2.0,
        autoping=True,
        compress=node.settings.websocket_deflate,
    )
    await ws.prepare(request)
    await Session(node, AiohttpSocket(ws, request.transport)).run()
    return ws


OPENAPI = resources.files(__package__).joinpath("openapi.json").read_bytes()
"""The HTTP API's OpenAPI 3.1 document, kept beside this module; a test holds it to the routes."""


async def openapi(request: web.Request) -> web.Response:
    del request
    return web.Response(body=OPENAPI, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    del request
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    problems = []
    if node.draining:
        problems.append("draining")
    if not node.fanout.connected.is_set():
        problems.append("pubsub disconnected")
    try:
        await asyncio.wait_for(node.store.ping(), READY_TIMEOUT_S)
    except (StoreUnavailable, TimeoutError):
        problems.append("redis unreachable")
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready", "hub": node.hub_id})


async def metrics(request: web.Request) -> web.Response:
    del request
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _start(app: web.Application) -> None:
    await app[NODE].start()
    app[WEBHOOKS].start()


async def _drain(app: web.Application) -> None:
    await app[NODE].drain()


async def _stop(app: web.Application) -> None:
    await app[WEBHOOKS].stop()
    await app[NODE].stop()
    await app[NODE].store.close()
