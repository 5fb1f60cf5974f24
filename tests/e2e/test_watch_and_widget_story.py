"""A takes space from a watch; B's widget shows it at once; nothing is doubled.

A's watch cannot hold a WebSocket: one request says "I need space for 30
minutes", and on a flaky link the watch sends it again. B's home-screen
widget holds no connection either: it long-polls the glance with the
version it drew last, and redraws within a moment of A's signal, with the
space's end to count down to. The two hubs behind the load balancer are
different processes: the widget asks one, the watch the other. B's phone
sees the space once. The widget's read-only token cannot send anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from heartline_protocol import Event
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import presence_of

SPACE = {"kind": "need_space", "duration": 1800, "note": "going for a walk, love you"}


async def _get(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json() if response.status == 200 else None


async def _post(
    http: aiohttp.ClientSession, url: str, token: str, body: Any, key: str
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_a_space_taken_on_a_watch_reaches_the_partners_widget_once(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    near_the_watch, near_the_widget = start_hub(), start_hub()
    couple = await pair_up(http, near_the_watch.url)
    watch = await add_device(http, near_the_watch.url, couple.a, "watch", scope="signal")
    widget = await add_device(http, near_the_widget.url, couple.b, "widget", scope="read")
    b_phone = await Device.connect(http, near_the_widget.ws_url, couple.b.token)
    await presence_of(b_phone, couple.b.member)
    _, drawn = await _get(http, f"{near_the_widget.url}/v1/glance", widget.token)

    polling = asyncio.ensure_future(
        _get(http, f"{near_the_widget.url}/v1/glance?wait=20&version={drawn['version']}",
             widget.token)
    )  # fmt: skip
    await asyncio.sleep(0.2)
    sent = time.perf_counter()
    signals = f"{near_the_watch.url}/v1/signals"
    first = await _post(http, signals, watch.token, SPACE, key="watch-0193")
    status, redrawn = await polling
    waited = time.perf_counter() - sent
    resent = await _post(http, signals, watch.token, SPACE, key="watch-0193")

    assert first[0] == resent[0] == 201
    assert first[1] == resent[1]
    assert status == 200
    assert waited < 1.0
    a_state = next(m for m in redrawn["members"] if m["id"] == couple.a.member)
    assert a_state["status"] == "space"
    assert a_state["until"] == first[1]["event"]["until"]
    seen = await b_phone.next_event("need_space")
    assert seen.seq == first[1]["event"]["seq"]
    assert [
        f for f in await b_phone.drain() if isinstance(f, Event) and f.kind == "need_space"
    ] == []

    refused = await _post(http, signals, widget.token, {"kind": "check_in"}, key="widget-1")
    assert refused == (
        403,
        {"error": {"code": "forbidden", "message": "this device may only read"}},
    )
    await b_phone.close()
