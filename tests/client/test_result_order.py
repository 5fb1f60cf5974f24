"""The client's state shows its own signal when the call returns, whichever frame came first.

SPEC.md 4.4 lets the hub send a signal's ``result`` before or after the
``event`` frame of the stored event. A Heartline hub usually sends the event
first; this test runs the client against a scripted peer on a real loopback
WebSocket that always sends the result first, and the event 200 ms later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web

import heartline
from heartline_protocol import (
    DEFAULT_LIMITS,
    SUBPROTOCOL,
    CheckIn,
    Event,
    MemberState,
    Result,
    Signal,
    State,
    Welcome,
    decode_from_client,
    encode,
)

EVENT_DELAY_S = 0.2


async def result_first(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
    await ws.prepare(request)
    await ws.receive()
    state = State(version=2, members=(MemberState("m_a"), MemberState("m_b")))
    welcome = Welcome(pair="p_x", member="m_a", device="d_a", epoch="ep_1",
                      server_time=int(time.time() * 1000), heartbeat_ms=25_000, state=state,
                      limits=DEFAULT_LIMITS, partner="m_b")  # fmt: skip
    await ws.send_bytes(encode(welcome))
    async for message in ws:
        if message.type is not WSMsgType.BINARY:
            continue
        frame = decode_from_client(message.data)
        if isinstance(frame, Signal):
            event = Event(seq=3, id="ep_1.3", at=int(time.time() * 1000), member="m_a",
                          device="d_a", body=frame.body)  # fmt: skip
            await ws.send_bytes(encode(Result(id=frame.id, event=event)))
            await asyncio.sleep(EVENT_DELAY_S)
            await ws.send_bytes(encode(event))
    return ws


@pytest.fixture
async def peer_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/v1/ws", result_first)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"ws://127.0.0.1:{port}/v1/ws"
    await runner.cleanup()


async def test_a_result_before_its_event_already_shows_in_the_state(peer_url: str) -> None:
    async with heartline.connect(peer_url, "hlt_scripted") as a:
        feed = a.events()
        sent = await a.check_in(note="thinking of you")

        assert a.state.version == sent.seq == 3
        assert [bid.seq for bid in a.state.open_bids] == [3]
        first = await asyncio.wait_for(anext(feed), 1)
        assert (first.seq, first.body) == (3, CheckIn(note="thinking of you"))

        await asyncio.sleep(EVENT_DELAY_S * 2)
        assert a.state.version == 3
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(feed), 0.1)
