"""Helpers for proving how the hub treats bad input: raw frames, refusals, raw sockets.

A refusal is checked the way a client lives it: the bad frame goes out, a
``ping`` follows it, and everything up to the matching ``pong`` is the hub's
answer. So each helper proves at once that the frame got exactly one
``error`` and that the connection stayed open.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

import aiohttp
import msgpack

from heartline_protocol import (
    SUBPROTOCOL,
    Error,
    Event,
    HubFrame,
    Ping,
    Pong,
    Result,
    Snapshot,
    Sync,
    Welcome,
    decode_from_hub,
)
from tests.support.couples import Couple
from tests.support.devices import Device

__all__ = [
    "Closing",
    "answer",
    "connect_couple",
    "open_socket",
    "pack",
    "pair_version",
    "refused",
    "still_open",
    "until_closed",
]

_markers = itertools.count(1)


def pack(**fields: object) -> bytes:
    """One binary message holding exactly ``fields``, unchecked: what a buggy client sends."""
    data: bytes = msgpack.packb(fields, use_bin_type=True)
    return data


async def still_open(device: Device, timeout: float = 5.0) -> Pong:
    """The hub still answers this connection: a ``ping`` gets its ``pong``."""
    marker = next(_markers)
    await device.send(Ping(t=marker))
    pong = await device.receive(lambda f: isinstance(f, Pong) and f.t == marker, timeout)
    assert isinstance(pong, Pong)
    return pong


async def refused(device: Device, data: bytes | str, timeout: float = 5.0) -> Error:
    """Send ``data``; the one ``error`` it got, the connection staying open after it.

    Fails if the hub answered with a ``result``, with more than one error,
    or stopped answering.
    """
    marker = next(_markers)
    await device.send_raw(data)
    await device.send(Ping(t=marker))
    answers: list[HubFrame] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await device.receive(
                lambda f: isinstance(f, Error | Result) or (isinstance(f, Pong) and f.t == marker)
            )
            if isinstance(frame, Pong):
                break
            answers.append(frame)
    assert len(answers) == 1, f"expected exactly one error, the hub answered {answers}"
    error = answers[0]
    assert isinstance(error, Error), f"the hub accepted what it should refuse: {error}"
    assert error.message, "an error frame needs a message for developers"
    return error


async def answer(device: Device, request_id: str, timeout: float = 10.0) -> Result | Error:
    """The ``result`` or ``error`` answering the request ``request_id``."""
    frame = await device.receive(
        lambda f: isinstance(f, Result | Error) and f.id == request_id, timeout
    )
    assert isinstance(frame, Result | Error)
    return frame


async def pair_version(device: Device, known: int) -> int:
    """The pair's state version now, as the hub's log says (a ``sync`` after ``known``).

    Events stored after ``known`` come back as ordinary ``event`` frames;
    tests compare the returned version with ``known`` to prove nothing was
    stored.
    """
    request_id = f"version-{next(_markers)}"
    await device.send(Sync(id=request_id, after=known, limit=1000))
    result = await device.receive(lambda f: isinstance(f, Result) and f.id == request_id)
    assert isinstance(result, Result)
    assert result.last is not None
    assert not result.more
    device.inbox = [f for f in device.inbox if not isinstance(f, Snapshot)]
    return result.last


async def connect_couple(
    http: aiohttp.ClientSession, ws_url: str, couple: Couple
) -> tuple[Device, Device]:
    """Both partners online, with their presence events stored and seen by both.

    Once it returns, no hub event of the pair is still on its way, so a
    test can take the pair's version as its baseline.
    """
    a = await Device.connect(http, ws_url, couple.a.token)
    await a.receive(lambda f: _online(f, couple.a.member))
    b = await Device.connect(http, ws_url, couple.b.token)
    for device in (a, b):
        await device.receive(lambda f: _online(f, couple.b.member))
    return a, b


def _online(frame: HubFrame, member: str) -> bool:
    return isinstance(frame, Event) and frame.kind == "presence" and frame.member == member


async def open_socket(
    http: aiohttp.ClientSession, ws_url: str, *, protocols: tuple[str, ...] = (SUBPROTOCOL,)
) -> aiohttp.ClientWebSocketResponse:
    """A bare WebSocket to the hub: nothing sent yet, not even ``hello``."""
    return await http.ws_connect(ws_url, protocols=protocols, autoping=True)


@dataclass
class Closing:
    """How a connection ended: the frames before the close, its code, and when."""

    frames: list[HubFrame] = field(default_factory=list)
    code: int | None = None
    seconds: float = 0.0
    """From the call of :func:`until_closed` to the close."""

    @property
    def errors(self) -> list[Error]:
        return [frame for frame in self.frames if isinstance(frame, Error)]

    @property
    def events(self) -> list[Event]:
        return [frame for frame in self.frames if isinstance(frame, Event)]

    @property
    def welcome(self) -> Welcome | None:
        return next((f for f in self.frames if isinstance(f, Welcome)), None)


async def until_closed(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> Closing:
    """Read a raw WebSocket until the hub closes it; the close code the hub sent."""
    closing = Closing()
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.BINARY:
                closing.frames.append(decode_from_hub(message.data))
                continue
            if message.type is aiohttp.WSMsgType.CLOSE:
                closing.code = int(message.data)
            else:
                closing.code = ws.close_code
            break
    closing.seconds = time.monotonic() - started
    return closing
