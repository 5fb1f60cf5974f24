"""The HTTP API's OpenAPI document (server/heartline_hub/openapi.json) and the hub agree.

Three ways: the document names every route the hub serves and no other (the
WebSocket at /v1/ws aside, which OpenAPI does not describe); the hub serves
the document kept in the repository; and schemathesis, driving a real hub
with requests generated from the document (valid and invalid ones, a
bounded number, a fixed seed), finds no server error and no response that
breaks the document.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp

from heartline_hub.app import create_app
from heartline_hub.settings import Settings
from heartline_hub.store import Store
from tests.support.couples import pair_up
from tests.support.hubs import HubProcess

DOCUMENT: dict[str, Any] = json.loads(
    resources.files("heartline_hub").joinpath("openapi.json").read_text("utf-8")
)
NOT_HTTP = {("GET", "/v1/ws")}
SCHEMATHESIS_EXAMPLES = 25
SCHEMATHESIS_SEED = 20261129


async def test_the_document_names_every_route_and_only_those(redis_url: str) -> None:
    store = Store.from_url(redis_url, idempotency_ttl_ms=1000, retention_ms=1000)
    app = create_app(Settings(), store)
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
    }
    await store.close()
    assert served - NOT_HTTP == documented
    assert DOCUMENT["openapi"].startswith("3.1")


async def test_the_hub_serves_the_document_kept_in_the_repository(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    async with http.get(f"{shared_hub.url}/v1/openapi.json") as response:
        assert response.status == 200
        assert await response.json() == DOCUMENT


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(glance_wait_max_s="0.2", min_space_seconds="60")
    couple = await pair_up(http, hub.url)
    run = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{hub.url}/v1/openapi.json",
         "--header", f"Authorization: Bearer {couple.a.token}",
         "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", str(SCHEMATHESIS_SEED),
         "--request-timeout", "5", "--no-color",
         # Unpairing would end the pair the other operations are tested with
         # (test_http_api.py covers it); a webhook registered with a generated
         # URL would be sent deliveries off this machine (test_webhooks.py
         # registers loopback receivers).
         "--exclude-operation-id", "unpair", "--exclude-operation-id", "registerWebhook"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
