"""A WebSocket client frame by frame (websockets' sans-I/O protocol on an asyncio stream).

For what the usual clients never send: a message in fragments, a protocol
ping, an upgrade on a connection that already carried a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from heartline_protocol import SUBPROTOCOL

__all__ = ["RawWebSocket"]


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol: ClientProtocol | None = None
        self.frames: list[Frame] = []

    @classmethod
    async def open(cls, port: int) -> RawWebSocket:
        """A TCP connection to the hub on ``port``, not upgraded yet."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def upgrade(self, ws_url: str) -> Response:
        """Ask for the upgrade on this connection; the hub's response."""
        self.protocol = ClientProtocol(parse_uri(ws_url), subprotocols=[Subprotocol(SUBPROTOCOL)])
        self.protocol.send_request(self.protocol.connect())
        self.flush()
        while True:
            for event in self._events():
                if isinstance(event, Response):
                    return event
            await self._read()

    def send(self, act: Callable[[ClientProtocol], None]) -> None:
        """Do ``act`` on the protocol (``lambda p: p.send_binary(...)``) and write the result."""
        assert self.protocol is not None
        act(self.protocol)
        self.flush()

    def flush(self) -> None:
        assert self.protocol is not None
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)

    async def next_frame(self, timeout: float = 5.0) -> Frame:
        async with asyncio.timeout(timeout):
            while not self.frames:
                self.frames.extend(e for e in self._events() if isinstance(e, Frame))
                if not self.frames:
                    await self._read()
            return self.frames.pop(0)

    async def closed_by_hub(self, timeout: float = 5.0) -> bool:
        """Whether the hub closes the TCP connection within ``timeout`` (reading to the end).

        A reset counts: a hub that fails the connection (1002, 1007) closes at
        once, and the close frame this side sends back in answer may reach
        a socket already closed, which the hub's kernel answers with a reset.
        """
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.writer.close()

    def _events(self) -> list[object]:
        assert self.protocol is not None
        events: list[object] = list(self.protocol.events_received())
        self.flush()
        return events

    async def _read(self) -> None:
        assert self.protocol is not None
        data = await self.reader.read(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
