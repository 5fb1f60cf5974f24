"""While its Valkey is down the hub refuses plainly, and it recovers by itself.

A dedicated Valkey (persistent, so the pair outlives the restart) is
stopped under a running hub with two partners connected: every signal gets
``unavailable`` with ``retry_after_ms`` (never silence), a new connection
is turned away with close 4004, and ``/readyz`` says 503. Once Valkey is
back on the same port, the same hub process is ready again within seconds,
signals are stored and relayed, and the signal refused during the outage,
resent with its id, is stored exactly once (SPEC.md 7.5, 8.1, 8.2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from heartline_protocol import (
    CheckIn,
    CloseCode,
    Error,
    ErrorCode,
    Event,
    FeelingDisconnected,
    Hello,
    Ping,
    Pong,
    Signal,
    encode,
)
from tests.support.abuse import answer, connect_couple, open_socket, pair_version, until_closed
from tests.support.couples import pair_up
from tests.support.devices import Device, HubError
from tests.support.hubs import HubProcess
from tests.support.servers import valkey_server


async def readyz(http: aiohttp.ClientSession, hub: HubProcess) -> int:
    async with http.get(f"{hub.url}/readyz") as response:
        return response.status


async def test_signals_get_unavailable_while_valkey_is_down_and_flow_again_after(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    with valkey_server(appendonly=True) as valkey:
        hub = start_hub(str(valkey.connection_url), join_attempts_per_minute="1000")
        couple = await pair_up(http, hub.url)
        a, b = await connect_couple(http, hub.ws_url, couple)
        version = await pair_version(a, a.position.seq)
        assert await readyz(http, hub) == 200

        valkey.stop()
        refused = []
        for number in range(3):
            request_id = f"outage-{number}"
            sent = time.monotonic()
            await a.send(Signal(request_id, FeelingDisconnected(note=f"are you there {number}")))
            reply = await answer(a, request_id, timeout=15)
            assert isinstance(reply, Error), f"{request_id} was answered {reply}"
            assert (reply.code, reply.id) == (ErrorCode.UNAVAILABLE, request_id)
            assert reply.retry_after_ms is not None
            assert reply.retry_after_ms > 0
            assert reply.message
            refused.append((request_id, time.monotonic() - sent))
        assert max(seconds for _, seconds in refused) < 5, f"slow refusals: {refused}"
        assert await readyz(http, hub) == 503

        newcomer = await open_socket(http, hub.ws_url)
        await newcomer.send_bytes(encode(Hello(token=couple.b.token)))
        turned_away = await until_closed(newcomer)
        assert [(e.code, e.retry_after_ms is not None) for e in turned_away.errors] == [
            (ErrorCode.UNAVAILABLE, True)
        ]
        assert turned_away.code == CloseCode.UNAVAILABLE

        valkey.start()
        back = time.monotonic()
        for _ in range(100):  # polls for at most 10 s
            if await readyz(http, hub) == 200:
                break
            await asyncio.sleep(0.1)
        recovery = time.monotonic() - back
        assert recovery < 5, f"/readyz was still 503 {recovery:.1f} s after Valkey came back"

        stored = await a.signal(CheckIn(note="back again"), id="after-outage")
        assert stored.seq == version + 1, "nothing refused during the outage was stored"
        assert (await b.next_event("check_in")).seq == stored.seq

        resent = await a.signal(FeelingDisconnected(note="are you there 0"), id="outage-0")
        again = await a.signal(FeelingDisconnected(note="are you there 0"), id="outage-0")
        assert again == resent
        assert resent.seq == stored.seq + 1
        assert await pair_version(a, stored.seq) == resent.seq, "stored exactly once"
        await b.drain(quiet=0.3)
        relayed = [e for e in b.events if isinstance(e, Event) and e.kind == "feeling_disconnected"]
        assert [e.seq for e in relayed] == [resent.seq]
        assert hub.ready()


async def test_the_hubs_own_unavailable_answers_do_not_cut_a_client_off(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """A client that resends while the database is away is not the one misbehaving."""
    with valkey_server(appendonly=True) as valkey:
        hub = start_hub(str(valkey.connection_url), refused_frames_limit="3")
        couple = await pair_up(http, hub.url)
        phone = await Device.connect(http, hub.ws_url, couple.a.token)
        valkey.stop()
        try:
            for attempt in range(8):
                with pytest.raises(HubError) as refused:
                    await phone.signal(CheckIn(note=f"try {attempt}"), id="c-same")
                assert refused.value.code == ErrorCode.UNAVAILABLE
            await phone.send(Ping(t=1))
            pong = await phone.receive(lambda f: isinstance(f, Pong))
            assert isinstance(pong, Pong)
        finally:
            valkey.start()
        await phone.close()
