"""B keeps every signal of A even when the hub's live feed from Redis drops.

Pub/sub loses what is published while a subscriber is disconnected; the log
does not. The hub notices the drop, subscribes again and fills the gap from
the log by sequence number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest
import redis.asyncio as redis

from heartline_protocol import CheckIn
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.servers import valkey_server


@pytest.mark.parametrize("engine_url", ["valkey"], indirect=True)
async def test_signals_sent_while_pubsub_is_down_still_reach_the_partner_in_order(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    with valkey_server() as server:
        url = str(server.connection_url)
        a_hub, b_hub = start_hub(url), start_hub(url)
        couple = await pair_up(http, a_hub.url)
        a_phone = await Device.connect(http, a_hub.ws_url, couple.a.token)
        b_phone = await Device.connect(http, b_hub.ws_url, couple.b.token)

        sent = []
        async with redis.Redis.from_url(url) as admin:
            for round_ in range(3):
                await _until_subscribed(admin, hubs=2)
                assert await _cut_every_subscriber(admin) >= 1
                for number in range(4):
                    sent.append(await a_phone.signal(CheckIn(note=f"{round_}-{number}")))
                await asyncio.sleep(0.05)

        for event in sent:
            seen = await b_phone.next_event("check_in", timeout=10)
            assert (seen.seq, seen.body) == (event.seq, event.body)
        seqs = [event.seq for event in b_phone.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no gap, no repeat"
        assert "pubsub_lost" in b_hub.logs(), "the feed really dropped"
        for device in (a_phone, b_phone):
            await device.close()


async def _subscribers(admin: redis.Redis) -> list[dict[str, str]]:
    return [client for client in await admin.client_list() if int(client.get("sub", 0)) > 0]


async def _until_subscribed(admin: redis.Redis, hubs: int) -> None:
    """Wait until both hubs have their live feed again (they reconnect within a second)."""
    async with asyncio.timeout(5):
        while len(await _subscribers(admin)) < hubs:
            await asyncio.sleep(0.02)


async def _cut_every_subscriber(admin: redis.Redis) -> int:
    """Kill each connection with a subscription, as a network blip or Redis would."""
    subscribers = await _subscribers(admin)
    for client in subscribers:
        await admin.client_kill_filter(_id=client["id"])
    return len(subscribers)
