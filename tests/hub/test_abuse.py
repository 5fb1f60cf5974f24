"""Slow, silent, flooding and garbage-sending clients never hurt anyone else (SPEC.md 7.7, 7.8).

Each test starts a hub of its own with small limits, so that the abuse is
quick to provoke: a signal budget of 2 a second, 5 refused frames, a queue
of 16 frames, a 300 ms heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohappyeyeballs import AddrInfoType

from heartline_protocol import (
    SUBPROTOCOL,
    CheckIn,
    CloseCode,
    Error,
    ErrorCode,
    Event,
    Hello,
    HubFrame,
    ImBack,
    Ping,
    Position,
    Result,
    Signal,
    Welcome,
    decode_from_hub,
    encode,
)
from tests.support.abuse import (
    answer,
    connect_couple,
    pair_version,
    refused,
    still_open,
    until_closed,
)
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess

OWN_HUB = {"join_attempts_per_minute": "1000"}
"""Every hub here pairs a few couples of its own."""


# Flood: rate_limited for the flooder, normal service for everyone else.


async def flood(
    device: Device, started: asyncio.Event, stop: asyncio.Event
) -> list[Result | Error]:
    """Signals in waves of 25 as fast as the hub answers them, until ``stop``."""
    answers: list[Result | Error] = []
    for wave in range(400):
        if stop.is_set():
            break
        ids = [f"flood-{wave}-{n}" for n in range(25)]
        for request_id in ids:
            await device.send(Signal(request_id, CheckIn(note="answer me")))
        answers += [await answer(device, request_id) for request_id in ids]
        if any(isinstance(a, Error) for a in answers):
            started.set()
        await asyncio.sleep(0.01)
    return answers


async def test_a_flooding_device_is_rate_limited_while_another_pair_is_served_at_once(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(
        signal_rate="2",
        signal_burst="3",
        refused_frames_limit="100000",
        frame_rate="100000",
        **OWN_HUB,
    )
    flooders, others = await pair_up(http, hub.url), await pair_up(http, hub.url)
    flooder, flooders_partner = await connect_couple(http, hub.ws_url, flooders)
    other, others_partner = await connect_couple(http, hub.ws_url, others)
    version = await pair_version(flooder, flooder.position.seq)

    started, stop = asyncio.Event(), asyncio.Event()
    flooding = asyncio.create_task(flood(flooder, started, stop))
    await asyncio.wait_for(started.wait(), 5)
    latencies = []
    for number in range(3):
        sent = time.monotonic()
        stored = await other.signal(CheckIn(note=f"a normal evening {number}"))
        seen = await others_partner.next_event("check_in")
        latencies.append(time.monotonic() - sent)
        assert seen.seq == stored.seq
        await asyncio.sleep(0.1)
    stop.set()
    answers = await flooding

    assert max(latencies) < 0.2, f"the other pair waited {latencies} during the flood"
    errors = [a for a in answers if isinstance(a, Error)]
    results = [a for a in answers if isinstance(a, Result)]
    assert len(errors) + len(results) == len(answers) >= 50, "every signal got an answer"
    assert 3 <= len(results) < len(answers) // 5, f"{len(results)} of {len(answers)} were stored"
    for error in errors:
        assert error.code == ErrorCode.RATE_LIMITED
        assert error.id is not None
        assert error.id.startswith("flood-")
        assert error.retry_after_ms is not None
        assert 0 < error.retry_after_ms <= 1000

    assert await pair_version(flooder, version) == version + len(results), "refused, not stored"
    await flooders_partner.drain(quiet=0.2)
    assert len([e for e in flooders_partner.events if e.kind == "check_in"]) == len(results)

    refusal = None
    for attempt in range(5):  # spend what the budget refilled meanwhile (at most the burst)
        request_id = f"after-{attempt}"
        await flooder.send(Signal(request_id, CheckIn(note="and more")))
        refusal = await answer(flooder, request_id)
        if isinstance(refusal, Error):
            break
    assert isinstance(refusal, Error)
    assert (refusal.code, refusal.id) == (ErrorCode.RATE_LIMITED, request_id)
    assert refusal.retry_after_ms is not None
    await asyncio.sleep(refusal.retry_after_ms / 1000)  # the wait the hub asked for is the point
    stored = await flooder.signal(CheckIn(note="and more"), id=request_id)
    assert stored.kind == "check_in"


# Garbage: refused frames beyond the limit end the connection.


async def test_a_device_that_keeps_sending_garbage_is_closed_with_4005(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(refused_frames_limit="5", **OWN_HUB)
    couple = await pair_up(http, hub.url)
    device = await Device.connect(http, hub.ws_url, couple.a.token)
    partner = await Device.connect(http, hub.ws_url, couple.b.token)

    for _ in range(5):  # up to the limit: each refused, the connection open
        assert (await refused(device, b"\xc1")).code == ErrorCode.BAD_FRAME

    sent = time.monotonic()
    await device.send_raw(b"\xc1")
    assert await device.closed(timeout=3) == CloseCode.POLICY_VIOLATION
    assert time.monotonic() - sent < 1.5
    assert [e.code for e in device.inbox if isinstance(e, Error)] == [ErrorCode.BAD_FRAME]

    await still_open(partner)
    stored = await partner.signal(CheckIn(note="are you there?"))
    assert stored.member == couple.b.member


# Slow consumer: a device that stops reading is cut off, and loses nothing.


def _small_receive_buffer(address: AddrInfoType) -> socket.socket:
    family, kind, proto, _, _ = address
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


class StalledDevice:
    """A device whose app froze: it said hello, then stopped reading its socket.

    Its kernel receive buffer is small and its transport is paused, so what
    the hub sends piles up at the hub, as with a phone that went to sleep
    mid-connection.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, welcome: Welcome) -> None:
        self.ws = ws
        self.welcome = welcome
        connection = ws._response.connection
        assert connection is not None
        assert connection.transport is not None
        self._transport = connection.transport
        self._transport.pause_reading()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, ws_url: str, token: str) -> AsyncIterator[StalledDevice]:
        connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
        async with aiohttp.ClientSession(connector=connector) as session:
            ws = await session.ws_connect(ws_url, protocols=[SUBPROTOCOL])
            await ws.send_bytes(encode(Hello(token=token, agent="frozen-app/1.0")))
            welcome = decode_from_hub((await ws.receive(timeout=5)).data)
            assert isinstance(welcome, Welcome), welcome
            yield cls(ws, welcome)

    def wake_up(self) -> None:
        self._transport.resume_reading()


async def keep_reading(device: Device, stop: asyncio.Event) -> None:
    """Read (and keep) every frame as it comes, as a healthy app does."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await device.receive(never, timeout=0.1)


def never(frame: HubFrame) -> bool:
    """Matches no frame: :meth:`Device.receive` then keeps every frame it reads."""
    del frame
    return False


def seqs(events: list[Event]) -> list[int]:
    return [event.seq for event in events]


async def test_a_device_sending_far_more_frames_than_a_client_needs_is_closed_with_4005(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """Valid frames too: a ping storm is cut off like garbage (SPEC.md 7.8)."""
    hub = start_hub(frame_rate="20", **OWN_HUB)
    storm, calm = await pair_up(http, hub.url), await pair_up(http, hub.url)
    stormy = await Device.connect(http, hub.ws_url, storm.a.token)
    quiet = await Device.connect(http, hub.ws_url, calm.a.token)
    for number in range(300):
        await stormy.send(Ping(t=number))
    assert await stormy.closed(timeout=5) == CloseCode.POLICY_VIOLATION
    assert (await quiet.signal(CheckIn(note="still here"))).kind == "check_in"
    await quiet.close()


async def test_a_device_that_stops_reading_is_closed_with_4002_and_resumes_losing_nothing(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(
        outbound_queue="16",
        signal_rate="100000",
        signal_burst="100000",
        frame_rate="100000",
        **OWN_HUB,
    )
    couple = await pair_up(http, hub.url)
    watch_of_b = await add_device(http, hub.url, couple.b, kind="watch", scope="read")
    a = await Device.connect(http, hub.ws_url, couple.a.token)
    watch = await Device.connect(http, hub.ws_url, watch_of_b.token)
    reading = asyncio.Event()
    watching = asyncio.create_task(keep_reading(watch, reading))

    async with StalledDevice.connect(hub.ws_url, couple.b.token) as frozen:
        # Big events fill the socket buffers quickly; im_back keeps the state small.
        slowest, stored = 0.0, 0
        for stored in range(1, 8001):
            sent = time.monotonic()
            await a.signal(ImBack(note="💔" * 280))
            slowest = max(slowest, time.monotonic() - sent)
            a.inbox.clear()
            if stored % 20 == 0 and "slow_consumer" in hub.logs():
                break
        assert "slow_consumer" in hub.logs(), f"still not cut off after {stored} signals"
        last = a.position.seq
        reading.set()
        await watching

        frozen.wake_up()
        closing = await until_closed(frozen.ws, timeout=10)
        assert closing.code == CloseCode.SLOW_CONSUMER

    got_before = seqs(closing.events)
    first = frozen.welcome.state.version + 1
    assert got_before == list(range(first, first + len(got_before))), "in order, no gap"
    assert got_before[-1] < last, "the hub stopped sending once the queue overflowed"

    resumed = await Device.connect(
        http, hub.ws_url, couple.b.token, resume=Position(got_before[-1], frozen.welcome.epoch)
    )
    assert resumed.welcome.resumed
    await resumed.receive(lambda f: isinstance(f, Event) and f.seq >= last, timeout=10)
    everything = got_before + [seq for seq in seqs(resumed.events) if seq <= last]
    assert everything == list(range(first, last + 1)), "every event once, none lost"

    # The others never noticed: every signal answered, every event watched.
    assert slowest < 0.5, f"a signal of A took {slowest:.2f} s while B was stuck"
    await watch.receive(lambda f: isinstance(f, Event) and f.seq >= last)
    watched = [seq for seq in seqs(watch.events) if seq <= last]
    assert watched == list(range(watch.welcome.state.version + 1, last + 1))
    await still_open(a)
    await still_open(watch)


# Heartbeat: silence is closed, pings keep a connection.


async def test_a_silent_device_is_closed_with_4001_while_one_that_pings_stays(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(heartbeat_ms="300", **OWN_HUB)
    couple = await pair_up(http, hub.url)
    silent = await Device.connect(http, hub.ws_url, couple.a.token)
    connected = time.monotonic()
    closing = asyncio.create_task(closed_at(silent))
    talkative = await Device.connect(http, hub.ws_url, couple.b.token)
    assert silent.welcome.heartbeat_ms == 300

    for _ in range(10):  # 1.5 s: five heartbeat intervals
        await still_open(talkative)
        await asyncio.sleep(0.15)

    code, at = await closing
    assert code == CloseCode.HEARTBEAT_TIMEOUT
    silence = at - connected
    assert 0.45 <= silence <= 1.2, f"closed after {silence:.2f} s of silence (2 x 0.3 s expected)"
    assert not talkative.ws.closed
    await still_open(talkative)
    assert time.monotonic() - connected >= 1.5


async def closed_at(device: Device) -> tuple[int | None, float]:
    """The close code of ``device`` and when it came."""
    code = await device.closed(timeout=3)
    return code, time.monotonic()
