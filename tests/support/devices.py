"""A raw protocol client for tests: one WebSocket, frames in and out, nothing clever.

It speaks SPEC.md through heartline_protocol and an aiohttp WebSocket, so a
test sees exactly what a device would. Frames that arrive while a test waits
for another one are kept in order, never dropped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp

from heartline_protocol import (
    SUBPROTOCOL,
    Error,
    Event,
    Hello,
    HubFrame,
    Position,
    Received,
    Result,
    Signal,
    SignalBody,
    Welcome,
    decode_from_hub,
    encode,
)

__all__ = ["Device", "HubError"]

_ids = itertools.count(1)


class HubError(Exception):
    """The hub answered a request with an ``error`` frame."""

    def __init__(self, frame: Error) -> None:
        super().__init__(f"{frame.code}: {frame.message}")
        self.frame = frame
        self.code = frame.code


class Device:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, welcome: Welcome) -> None:
        self.ws = ws
        self.welcome = welcome
        self.inbox: list[HubFrame] = []
        self.events: list[Event] = []
        """Every event received on this connection, in arrival order."""

    @classmethod
    async def connect(
        cls,
        http: aiohttp.ClientSession,
        ws_url: str,
        token: str,
        *,
        resume: Position | None = None,
        timeout: float = 5.0,
        compress: int = 0,
    ) -> Device:
        """``compress``: offer permessage-deflate with this window (0: do not offer it)."""
        ws = await http.ws_connect(
            ws_url, protocols=[SUBPROTOCOL], autoping=True, compress=compress
        )
        await ws.send_bytes(encode(Hello(token=token, resume=resume, agent="heartline-tests")))
        first = await asyncio.wait_for(ws.receive(), timeout)
        if first.type is not aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"no welcome: {first.type} {ws.close_code}")
        frame = decode_from_hub(first.data)
        if isinstance(frame, Error):
            await ws.close()
            raise HubError(frame)
        assert isinstance(frame, Welcome), frame
        return cls(ws, frame)

    @property
    def position(self) -> Position:
        last = self.events[-1].seq if self.events else self.welcome.state.version
        return Position(max(last, self.welcome.state.version), self.welcome.epoch)

    async def send(self, frame: Any) -> None:
        await self.ws.send_bytes(encode(frame))

    async def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def signal(self, body: SignalBody, *, id: str | None = None) -> Event:
        """Send a signal and return the stored event, or raise :class:`HubError`."""
        request_id = id or f"t-{next(_ids)}"
        await self.send(Signal(request_id, body))
        answer = await self.receive(lambda f: isinstance(f, Result | Error) and f.id == request_id)
        if isinstance(answer, Error):
            raise HubError(answer)
        assert isinstance(answer, Result)
        assert answer.event is not None
        return answer.event

    async def next_event(self, kind: str | None = None, timeout: float = 5.0) -> Event:
        frame = await self.receive(
            lambda f: isinstance(f, Event) and (kind is None or f.kind == kind), timeout
        )
        assert isinstance(frame, Event)
        return frame

    async def next_error(self, timeout: float = 5.0) -> Error:
        frame = await self.receive(lambda f: isinstance(f, Error), timeout)
        assert isinstance(frame, Error)
        return frame

    async def acknowledge_receipt(self) -> None:
        await self.send(Received(seq=self.position.seq))

    async def receive(self, match: Callable[[HubFrame], bool], timeout: float = 5.0) -> HubFrame:
        """The first frame, already kept or still to come, that ``match`` accepts."""
        for index, frame in enumerate(self.inbox):
            if match(frame):
                return self.inbox.pop(index)
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._read()
                if match(frame):
                    return frame
                self.inbox.append(frame)

    async def drain(self, quiet: float = 0.3) -> list[HubFrame]:
        """Every frame that arrives until none has come for ``quiet`` seconds."""
        frames = []
        try:
            while True:
                frames.append(await asyncio.wait_for(self._read(), quiet))
        except TimeoutError:
            pass
        kept, self.inbox = self.inbox + frames, []
        return kept

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the hub to close the connection; its close code."""
        async with asyncio.timeout(timeout):
            while not self.ws.closed:
                message = await self.ws.receive()
                if message.type is aiohttp.WSMsgType.BINARY:
                    self._keep(decode_from_hub(message.data))
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()

    async def _read(self) -> HubFrame:
        message = await self.ws.receive()
        if message.type is not aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"connection ended: {message.type} {self.ws.close_code}")
        frame = decode_from_hub(message.data)
        if isinstance(frame, Event):
            self.events.append(frame)
        return frame

    def _keep(self, frame: HubFrame) -> None:
        if isinstance(frame, Event):
            self.events.append(frame)
        self.inbox.append(frame)
