"""Webhooks for push relays: every event, in order, signed, through outages and restarts."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from heartline.webhooks import WebhookRejected, verify
from heartline_protocol import (
    CheckIn,
    FeelingDisconnected,
    ImBack,
    NeedSpace,
    SignalBody,
    WebhookDisabled,
)
from tests.support.couples import Partner, add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.servers import free_port


@dataclass
class Receiver:
    """A push relay's endpoint on loopback: it checks each delivery and keeps it."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)
    """Each webhook's signing secret, by its id."""
    failing: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        if self.failing:
            return web.Response(status=503)
        body = await request.read()
        secret = self.secrets.get(request.headers.get("Heartline-Webhook-Id", ""), "")
        try:
            verify(secret, request.headers.get("Heartline-Signature"), body)
        except WebhookRejected as rejected:
            self.refused.append(rejected.reason)
            return web.Response(status=401)
        delivery = json.loads(body)
        assert request.headers["Heartline-Event-Id"] == delivery["event"]["id"]
        self.deliveries.append(delivery)
        return web.Response(status=204)

    def seqs(self) -> list[int]:
        return [delivery["event"]["seq"] for delivery in self.deliveries]


@pytest.fixture
def delivering_hub(
    redis_url: str, start_hub: Callable[..., HubProcess]
) -> Callable[..., HubProcess]:
    """Hubs on a database of their own: any hub sharing theirs could take a webhook's lease."""
    own_database = urlsplit(redis_url)._replace(path="/7").geturl()
    return functools.partial(start_hub, own_database, webhook_poll_ms="50")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", receiver.port)
    await site.start()
    yield receiver
    await runner.cleanup()


async def register(
    http: aiohttp.ClientSession, hub: HubProcess, who: Partner, body: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {who.token}"}
    async with http.post(f"{hub.url}/v1/webhooks", json=body, headers=headers) as response:
        return response.status, await response.json()


async def listed(http: aiohttp.ClientSession, hub: HubProcess, who: Partner) -> list[Any]:
    headers = {"Authorization": f"Bearer {who.token}"}
    async with http.get(f"{hub.url}/v1/webhooks", headers=headers) as response:
        webhooks: list[Any] = (await response.json())["webhooks"]
        return webhooks


async def delivered_through(receiver: Receiver, seq: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not receiver.seqs() or max(receiver.seqs()) < seq:
        assert time.monotonic() < deadline, f"delivered {receiver.seqs()}, waiting for {seq}"
        await asyncio.sleep(0.05)


async def test_every_event_arrives_once_in_order_through_an_outage_and_a_hub_restart(
    http: aiohttp.ClientSession, delivering_hub: Callable[..., HubProcess], receiver: Receiver
) -> None:
    hub = delivering_hub()
    couple = await pair_up(http, hub.url)
    status, webhook = await register(http, hub, couple.a, {"url": receiver.url})
    assert status == 201
    receiver.secrets[webhook["id"]] = webhook["secret"]
    phone = await Device.connect(http, hub.ws_url, couple.b.token)
    bodies: list[SignalBody] = [NeedSpace(duration=600), ImBack(), CheckIn(note="hi")]

    sent = [await phone.signal(body) for body in bodies]
    await delivered_through(receiver, sent[-1].seq)

    receiver.failing = True
    sent = [await phone.signal(body) for body in bodies]
    await asyncio.sleep(3.0)
    receiver.failing = False
    await delivered_through(receiver, sent[-1].seq)

    last = await phone.signal(FeelingDisconnected(note="restart"))
    await phone.close()
    await asyncio.to_thread(hub.terminate)  # the receiver answers while the hub drains
    delivering_hub()
    await delivered_through(receiver, last.seq)

    seqs = receiver.seqs()
    assert seqs == list(range(webhook["delivered_through"] + 1, seqs[-1] + 1))
    assert seqs[-1] >= last.seq
    assert receiver.refused == []
    assert {d["pair"] for d in receiver.deliveries} == {couple.a.pair}


async def test_two_hubs_never_both_deliver_to_one_webhook(
    http: aiohttp.ClientSession, delivering_hub: Callable[..., HubProcess], receiver: Receiver
) -> None:
    one, other = delivering_hub(), delivering_hub()
    couple = await pair_up(http, one.url)
    _, webhook = await register(http, other, couple.a, {"url": receiver.url})
    receiver.secrets[webhook["id"]] = webhook["secret"]
    a_phone = await Device.connect(http, one.ws_url, couple.a.token)
    b_phone = await Device.connect(http, other.ws_url, couple.b.token)
    sent = []
    for n in range(10):
        sent.append(await a_phone.signal(CheckIn(note=f"a{n}")))
        sent.append(await b_phone.signal(CheckIn(note=f"b{n}")))
    await delivered_through(receiver, sent[-1].seq)
    seqs = receiver.seqs()
    assert seqs == sorted(set(seqs))
    assert {event.seq for event in sent} <= set(seqs)
    await a_phone.close()
    await b_phone.close()


async def test_notes_are_sent_only_to_a_webhook_that_opted_in(
    http: aiohttp.ClientSession, delivering_hub: Callable[..., HubProcess], receiver: Receiver
) -> None:
    hub = delivering_hub()
    couple = await pair_up(http, hub.url)
    _, webhook = await register(http, hub, couple.a, {"url": receiver.url})
    receiver.secrets[webhook["id"]] = webhook["secret"]
    phone = await Device.connect(http, hub.ws_url, couple.a.token)
    bid = await phone.signal(FeelingDisconnected(note="private words", wish="talk"))
    await delivered_through(receiver, bid.seq)
    assert receiver.deliveries[-1]["event"]["kind"] == "feeling_disconnected"
    assert "note" not in receiver.deliveries[-1]["event"]
    assert "wish" not in receiver.deliveries[-1]["event"]

    _, opted_in = await register(http, hub, couple.a, {"url": receiver.url, "include_notes": True})
    receiver.secrets[opted_in["id"]] = opted_in["secret"]
    receiver.deliveries.clear()
    again = await phone.signal(CheckIn(note="more words"))
    deadline = time.monotonic() + 10
    while not any(d["webhook"] == opted_in["id"] for d in receiver.deliveries):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    mine = [d for d in receiver.deliveries if d["webhook"] == opted_in["id"]]
    assert mine[0]["event"]["seq"] == again.seq
    assert mine[0]["event"]["note"] == "more words"
    await phone.close()


async def test_a_url_that_keeps_failing_is_disabled_and_the_member_is_told_why(
    http: aiohttp.ClientSession, delivering_hub: Callable[..., HubProcess], receiver: Receiver
) -> None:
    hub = delivering_hub(webhook_give_up_s="1.5")
    couple = await pair_up(http, hub.url)
    _, webhook = await register(http, hub, couple.a, {"url": receiver.url})
    receiver.failing = True
    phone = await Device.connect(http, hub.ws_url, couple.a.token)
    await phone.signal(CheckIn())
    deadline = time.monotonic() + 10
    while (await listed(http, hub, couple.a))[0]["status"] != "disabled":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    shown = (await listed(http, hub, couple.a))[0]
    assert shown["id"] == webhook["id"]
    assert "HTTP 503" in shown["disabled_because"]
    told = await phone.next_event("webhook_disabled")
    assert (told.member, told.body) == (couple.a.member, WebhookDisabled(webhook=webhook["id"]))
    await phone.close()


async def test_registering_takes_a_full_token_and_a_safe_url(
    http: aiohttp.ClientSession, shared_hub: HubProcess, receiver: Receiver
) -> None:
    couple = await pair_up(http, shared_hub.url)
    watch = await add_device(http, shared_hub.url, couple.a, "watch", scope="signal")
    status, body = await register(http, shared_hub, watch, {"url": receiver.url})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    for url in ("http://relay.example.org/hook", "ftp://127.0.0.1/x", "https://", 7, "x" * 3000):
        status, body = await register(http, shared_hub, couple.a, {"url": url})
        assert (status, body["error"]["code"]) == (400, "invalid_field"), url
    status, body = await register(
        http, shared_hub, couple.a, {"url": receiver.url, "include_notes": "yes"}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_field")

    status, created = await register(
        http, shared_hub, couple.a, {"url": "https://127.0.0.1:9/hook"}
    )
    assert status == 201
    assert created["secret"].startswith("whsec_")
    shown = await listed(http, shared_hub, couple.a)
    assert [w["id"] for w in shown] == [created["id"]]
    assert "secret" not in shown[0]
    headers = {"Authorization": f"Bearer {couple.a.token}"}
    url = f"{shared_hub.url}/v1/webhooks/{created['id']}"
    async with http.delete(url, headers=headers) as removed:
        assert removed.status == 204
    assert await listed(http, shared_hub, couple.a) == []
    async with http.delete(url, headers=headers) as again:
        assert again.status == 404
