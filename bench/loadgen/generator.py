"""The open-loop load generator: 2N devices, signals sent on a fixed schedule.

Signal ``k`` is due at ``start + (k + 1) / rate`` and is sent by client
``k mod 2N`` (clients ``0..N-1`` are the first members of pairs ``0..N-1``,
``N..2N-1`` the second members), whether or not earlier signals were
answered: a slow hub shows up as latency and loss, never as a lower rate.

Each client cycles through need_space, im_back, feeling_disconnected and ack.
An ack must target an open bid of the partner, so every client remembers the
partner's latest open bid (a ``feeling_disconnected`` or ``check_in`` event
it received and has not yet acknowledged) and sends ``check_in`` instead when
there is none.

Each signal carries its number in its note (or reply), ``lg-0000000042-bench.``
(20 bytes), so that the partner's device can tell which signal an event is,
and whether it was meant for it. Times come from one clock
(:func:`time.perf_counter`) in one process: latencies need no clock sync.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from heartline_protocol import (
    SUBPROTOCOL,
    Ack,
    CheckIn,
    Error,
    Event,
    FeelingDisconnected,
    Hello,
    ImBack,
    NeedSpace,
    Ping,
    Pong,
    Result,
    Signal,
    SignalBody,
    Welcome,
    decode_from_hub,
    encode,
)

__all__ = ["Client", "Phases", "Recorder", "Sampler", "connect_all", "run_load"]

SPACE_SECONDS = 3600
"""Long enough that no space-ending timer fires during a run."""

HANDSHAKES_IN_FLIGHT = 200
HANDSHAKE_ATTEMPTS = 10
NOT_SET = -1.0
BID_KINDS = frozenset({"feeling_disconnected", "check_in"})
SIGNAL_KINDS = frozenset({"need_space", "im_back", "feeling_disconnected", "check_in", "ack"})


def note_for(k: int) -> str:
    return f"lg-{k:010d}-bench."


def signal_number(note: str | None) -> int | None:
    if note is None or not note.startswith("lg-"):
        return None
    return int(note[3:13])


@dataclass(frozen=True)
class Phases:
    warmup_s: float = 5.0
    measure_s: float = 10.0
    drain_s: float = 10.0


@dataclass
class Recorder:
    """Per-signal times, indexed by signal number; ``NOT_SET`` where nothing happened."""

    capacity: int
    due: array[float] = field(init=False)
    sent: array[float] = field(init=False)
    result: array[float] = field(init=False)
    delivered: array[float] = field(init=False)
    failed: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0
    misrouted: int = 0
    unknown_results: int = 0
    refused_kinds: dict[str, int] = field(default_factory=dict)
    kinds_sent: dict[str, int] = field(default_factory=dict)
    close_codes: dict[str, int] = field(default_factory=dict)
    """How each connection ended (1000: our own close after the drain)."""

    def __post_init__(self) -> None:
        self.due = array("d", [NOT_SET]) * self.capacity
        self.sent = array("d", [NOT_SET]) * self.capacity
        self.result = array("d", [NOT_SET]) * self.capacity
        self.delivered = array("d", [NOT_SET]) * self.capacity


@dataclass
class Client:
    index: int
    token: str
    ws: ClientConnection | None = None
    member: str = ""
    partner_open_bid: int | None = None
    sent_count: int = 0
    answers: set[asyncio.Future[None]] = field(default_factory=set)
    """Pongs on their way (answers to the hub's pings, SPEC.md 7.7)."""

    def next_body(self, k: int) -> SignalBody:
        note = note_for(k)
        step = self.sent_count % 4
        self.sent_count += 1
        if step == 0:
            return NeedSpace(duration=SPACE_SECONDS, note=note)
        if step == 1:
            return ImBack(note=note)
        if step == 2:
            return FeelingDisconnected(note=note)
        target, self.partner_open_bid = self.partner_open_bid, None
        return CheckIn(note=note) if target is None else Ack(target=target, reply=note)


async def connect_all(
    ws_url: str, tokens: Sequence[str], *, deflate: bool = False
) -> tuple[list[Client], float, int]:
    """Connect every device, at most 200 handshakes in flight (offering
    permessage-deflate if ``deflate``).

    Returns the clients, the seconds it took and how many handshakes the hub
    refused with ``unavailable`` (each is retried after its ``retry_after_ms``,
    as SPEC.md asks a client to, up to ``HANDSHAKE_ATTEMPTS`` times).
    """
    clients = [Client(index, token) for index, token in enumerate(tokens)]
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    refused = 0

    async def attempt(client: Client) -> float | None:
        """Seconds to wait before trying again, or None once connected."""
        async with gate:
            ws = await connect(
                ws_url,
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                compression="deflate" if deflate else None,
                ping_interval=None,
                max_queue=None,
                open_timeout=60,
            )
            await ws.send(encode(Hello(token=client.token, agent="heartline-loadgen")))
            first = await asyncio.wait_for(ws.recv(), 60)
        if not isinstance(first, bytes):
            raise ConnectionError(f"client {client.index}: a text frame instead of welcome")
        welcome = decode_from_hub(first)
        if isinstance(welcome, Welcome):
            client.ws, client.member = ws, welcome.member
            return None
        await ws.close()
        if isinstance(welcome, Error) and welcome.code == "unavailable":
            return (welcome.retry_after_ms or 1000) / 1000
        raise ConnectionError(f"client {client.index}: no welcome but {welcome!r}")

    async def one(client: Client) -> None:
        nonlocal refused
        for _ in range(HANDSHAKE_ATTEMPTS):
            wait = await attempt(client)
            if wait is None:
                return
            refused += 1
            await asyncio.sleep(wait)
        raise ConnectionError(f"client {client.index}: refused {HANDSHAKE_ATTEMPTS} times")

    started = time.perf_counter()
    await asyncio.gather(*(one(client) for client in clients))
    return clients, time.perf_counter() - started, refused


def _on_frame(client: Client, data: bytes, now: float, rec: Recorder, n_clients: int) -> None:
    frame = decode_from_hub(data)
    if isinstance(frame, Result):
        k = int(frame.id[1:]) if frame.id.startswith("s") else -1
        if 0 <= k < rec.capacity:
            rec.result[k] = now
        else:
            rec.unknown_results += 1
    elif isinstance(frame, Error):
        k = int(frame.id[1:]) if frame.id is not None and frame.id.startswith("s") else -1
        rec.refused_kinds[frame.code] = rec.refused_kinds.get(frame.code, 0) + 1
        if 0 <= k < rec.capacity:
            rec.result[k] = now
            rec.failed[k] = frame.code
    elif isinstance(frame, Event) and frame.kind in SIGNAL_KINDS:
        _on_signal_event(client, frame, now, rec, n_clients)
    elif isinstance(frame, Ping) and client.ws is not None:
        answer = asyncio.ensure_future(client.ws.send(encode(Pong(t=frame.t))))
        client.answers.add(answer)
        answer.add_done_callback(client.answers.discard)


def _on_signal_event(client: Client, event: Event, now: float, rec: Recorder, n: int) -> None:
    """A partner's signal arrived: is it new, and is this the device it was meant for?"""
    if event.member == client.member:
        return  # our own signal, echoed to every device of the pair
    body = event.body
    k = signal_number(body.reply if isinstance(body, Ack) else body.note)  # type: ignore[union-attr]
    if k is None or k >= rec.capacity or (k % n + n // 2) % n != client.index:
        rec.misrouted += 1
    elif rec.delivered[k] != NOT_SET:
        rec.duplicates += 1
    else:
        rec.delivered[k] = now
        if event.kind in BID_KINDS:
            client.partner_open_bid = event.seq


async def _read(client: Client, rec: Recorder, n_clients: int) -> None:
    assert client.ws is not None
    try:
        async for data in client.ws:
            assert isinstance(data, bytes)
            _on_frame(client, data, time.perf_counter(), rec, n_clients)
    except ConnectionClosed:
        pass
    code = str(client.ws.close_code)
    rec.close_codes[code] = rec.close_codes.get(code, 0) + 1


async def _send_all(
    clients: list[Client], rate: float, total: int, start: float, rec: Recorder
) -> None:
    """The open loop: send signal k at ``start + (k + 1) / rate``, answered or not."""
    n = len(clients)
    k = 0
    while k < total:
        due = start + (k + 1) / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        now = time.perf_counter()
        while k < total and start + (k + 1) / rate <= now:
            client = clients[k % n]
            assert client.ws is not None
            body = client.next_body(k)
            rec.kinds_sent[body.kind] = rec.kinds_sent.get(body.kind, 0) + 1
            data = encode(Signal(f"s{k}", body))
            rec.due[k] = start + (k + 1) / rate
            rec.sent[k] = time.perf_counter()
            try:
                await client.ws.send(data)
            except ConnectionClosed:
                rec.failed[k] = "closed"
            k += 1


Sampler = Callable[[float], Coroutine[Any, Any, None]]
"""Runs alongside the load, given the schedule's start (the runner reads /proc with it)."""


async def run_load(
    clients: list[Client], rate: float, phases: Phases, sampler: Sampler | None = None
) -> tuple[Recorder, float]:
    """Warm up, measure and drain; the recorder and the schedule's start time."""
    n = len(clients)
    total = int(rate * (phases.warmup_s + phases.measure_s))
    rec = Recorder(total)
    for client in clients:  # every connection has been heard from lately
        assert client.ws is not None
        await client.ws.send(encode(Ping()))
    readers = [asyncio.create_task(_read(client, rec, n)) for client in clients]
    start = time.perf_counter() + 0.05
    side = asyncio.create_task(sampler(start)) if sampler is not None else None
    await _send_all(clients, rate, total, start, rec)
    await _drain(rec, start, phases)
    if side is not None:
        await side
    for client in clients:
        assert client.ws is not None
        await client.ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return rec, start


async def _drain(rec: Recorder, start: float, phases: Phases) -> None:
    """Wait until every signal has its result and its delivery, or the drain time is up."""
    deadline = start + phases.warmup_s + phases.measure_s + phases.drain_s
    while time.perf_counter() < deadline:
        if all(r != NOT_SET for r in rec.result) and all(
            d != NOT_SET or k in rec.failed for k, d in enumerate(rec.delivered)
        ):
            return
        await asyncio.sleep(0.1)
