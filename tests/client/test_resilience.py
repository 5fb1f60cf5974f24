"""The client through a hub's drain, a log that lost its history, and a hub that turns it away."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import redis.asyncio as redis

import heartline
from heartline_protocol import CheckIn, Event
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.servers import valkey_server

QUICK = heartline.Options(backoff=heartline.Backoff(base=0.05, cap=0.3), call_timeout=20)


async def test_a_draining_hub_loses_no_call_of_the_client(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess], shared_hub: HubProcess
) -> None:
    draining = start_hub()
    couple = await pair_up(http, shared_hub.url)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    async with heartline.connect(draining.ws_url, couple.a.token, QUICK) as a:
        stopping = asyncio.create_task(asyncio.to_thread(draining.terminate))
        await _until(lambda: not a.connected, 10)
        during = asyncio.create_task(a.check_in(note="said while the hub drained"))
        assert await stopping == 0
        start_hub(port=draining.port)
        sent = await asyncio.wait_for(during, 15)
        seen = await b_phone.receive(
            lambda f: isinstance(f, Event) and f.kind == "check_in" and f.seq == sent.seq
        )
        assert isinstance(seen, Event)
        assert seen.body == CheckIn(note="said while the hub drained")
        await asyncio.sleep(0.3)
        assert [e.seq for e in b_phone.events if e.kind == "check_in"] == [sent.seq]
    await b_phone.close()


async def test_when_the_hub_lost_history_the_app_is_told_and_the_state_is_fresh(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess], redis_url: str
) -> None:
    hub = start_hub()
    couple = await pair_up(http, hub.url)
    async with heartline.connect(hub.ws_url, couple.a.token, QUICK) as a:
        hub.kill()
        await _until(lambda: not a.connected, 5)
        async with redis.Redis.from_url(redis_url) as admin:
            await admin.hset(f"hl:{{p:{couple.a.pair}}}:state", "epoch", "ep_restored")
        start_hub(port=hub.port)
        await asyncio.wait_for(a.history_lost.wait(), 15)
        assert a.shared.epoch == "ep_restored"
        assert a.shared.delivered_seq == a.state.version
        assert (await a.check_in()).id.startswith("ep_restored.")


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_client_turned_away_waits_as_long_as_the_hub_asked(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """The hub refuses a hello with ``retry_after_ms`` 1000 while its Valkey is down;
    a client whose own backoff is far shorter tries again only after that."""
    with valkey_server(appendonly=True) as valkey:
        hub = start_hub(str(valkey.connection_url))
        couple = await pair_up(http, hub.url)
        valkey.stop()
        connecting = asyncio.create_task(
            heartline.connect(hub.ws_url, couple.a.token, QUICK).__aenter__()
        )
        await asyncio.sleep(2.5)
        refusals = hub.logs().count('"handshake_refused"')
        valkey.start()
        a = await asyncio.wait_for(connecting, 15)
        try:
            assert 1 <= refusals <= 3, f"{refusals} hellos in 2.5 s: the retry_after_ms was ignored"
            assert a.connected
        finally:
            await a.close()
