"""Server-Sent Events with single-use tickets, resumed by Last-Event-ID (sse.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from heartline_protocol import CheckIn, FeelingDisconnected, ImBack, NeedSpace
from tests.support.couples import Partner, add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


@dataclass
class Message:
    event: str
    id: str | None
    data: Any


class Stream:
    """A text/event-stream read message by message; comments are kept apart."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> Message:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Message:
        fields: dict[str, str] = {}
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line == "" and "data" in fields:
                return Message(
                    fields.get("event", "message"), fields.get("id"), json.loads(fields["data"])
                )
            elif line and ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")


async def ticket_for(http: aiohttp.ClientSession, hub: HubProcess, who: Partner) -> str:
    headers = {"Authorization": f"Bearer {who.token}"}
    async with http.post(f"{hub.url}/v1/stream/tickets", headers=headers) as response:
        assert response.status == 201
        ticket: str = (await response.json())["ticket"]
        return ticket


@asynccontextmanager
async def streaming(
    http: aiohttp.ClientSession, hub: HubProcess, who: Partner, last_event_id: int | None = None
) -> AsyncIterator[Stream]:
    ticket = await ticket_for(http, hub, who)
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    async with http.get(
        f"{hub.url}/v1/stream", params={"ticket": ticket}, headers=headers
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        yield Stream(response)


async def test_a_stream_opens_with_the_state_then_carries_each_event_with_its_seq(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.next_event("presence")
    async with streaming(http, shared_hub, couple.b) as stream:
        state = await stream.next()
        assert state.event == "state"
        assert state.data["member"] == couple.b.member
        assert not state.data["history_lost"]

        sent = await phone.signal(FeelingDisconnected(note="miss you"))
        message = await stream.next()

    assert (message.event, message.id) == ("message", str(sent.seq))
    assert message.data["kind"] == "feeling_disconnected"
    assert message.data["note"] == "miss you"
    await phone.close()


async def test_a_stream_resumed_with_last_event_id_misses_nothing_and_repeats_nothing(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.next_event("presence")
    async with streaming(http, shared_hub, couple.b) as stream:
        await stream.next()
        first = await phone.signal(NeedSpace(duration=600))
        assert (await stream.next()).id == str(first.seq)

    missed = [await phone.signal(body) for body in (ImBack(), CheckIn(note="back"))]
    async with streaming(http, shared_hub, couple.b, last_event_id=first.seq) as stream:
        replayed = [await stream.next() for _ in missed]
        live = await phone.signal(FeelingDisconnected())
        after = await stream.next()

    assert [message.id for message in replayed] == [str(event.seq) for event in missed]
    assert [message.event for message in replayed] == ["message", "message"]
    assert after.id == str(live.seq)
    await phone.close()


async def test_a_position_that_cannot_be_resumed_opens_with_the_state_marked_lost(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    async with streaming(http, shared_hub, couple.a, last_event_id=999) as stream:
        state = await stream.next()
    assert state.event == "state"
    assert state.data["history_lost"]
    assert state.data["version"] == 2


async def test_a_ticket_is_single_use_and_a_token_never_goes_in_the_url(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    ticket = await ticket_for(http, shared_hub, couple.a)
    url = f"{shared_hub.url}/v1/stream"
    async with http.get(url, params={"ticket": ticket}) as first:
        assert first.status == 200
    for params in ({"ticket": ticket}, {"ticket": couple.a.token}, {}):
        async with http.get(url, params=params) as refused:
            assert refused.status == 401
            assert (await refused.json())["error"]["code"] == "unauthorized"
    async with http.post(f"{shared_hub.url}/v1/stream/tickets") as no_token:
        assert no_token.status == 401


async def test_heartbeats_keep_a_quiet_stream_alive(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(heartbeat_ms="200")
    couple = await pair_up(http, hub.url)
    async with streaming(http, hub, couple.a) as stream:
        await stream.next()
        with_nothing_to_say = asyncio.ensure_future(stream.next(timeout=0.9))
        await asyncio.sleep(0.7)
        assert len(stream.comments) >= 2
        with_nothing_to_say.cancel()


async def test_revoking_the_device_ends_its_stream(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    web_page = await add_device(http, shared_hub.url, couple.a, "web", scope="read")
    async with streaming(http, shared_hub, web_page) as stream:
        await stream.next()
        headers = {"Authorization": f"Bearer {couple.a.token}"}
        url = f"{shared_hub.url}/v1/devices/{web_page.device}"
        async with http.delete(url, headers=headers) as revoked:
            assert revoked.status == 204
        with pytest.raises(EOFError):
            await stream.next(timeout=5.0)


async def test_a_draining_hub_ends_its_streams_so_they_reconnect_elsewhere(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub()
    couple = await pair_up(http, hub.url)
    async with streaming(http, hub, couple.a) as stream:
        await stream.next()
        stopping = asyncio.get_running_loop().run_in_executor(None, hub.terminate)
        with pytest.raises(EOFError):
            await stream.next(timeout=5.0)
        assert await stopping == 0
