"""The typed API: the partner vocabulary as methods, the shared state as an object.

::

    async with heartline.connect(url, token) as hl:
        await hl.need_space(minutes=30, note="a walk, love you")
        async for event in hl.events():
            ...
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from heartline_protocol import (
    Ack,
    CheckIn,
    Event,
    FeelingDisconnected,
    ImBack,
    NeedSpace,
    Signal,
    SignalBody,
    State,
)

from .connection import Connection, Options
from .errors import SessionEnded
from .state import SharedState

__all__ = ["EventStream", "Heartline", "connect"]

Callback = Callable[[Event], None]


class EventStream:
    """An async iterator of events, subscribed from the moment it is created.

    (An async generator would subscribe only at its first ``__anext__`` and
    miss what arrived in between.)
    """

    def __init__(self, queues: list[asyncio.Queue[Event]]) -> None:
        self._queues = queues
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        queues.append(self._queue)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving events on this stream."""
        if self._queue in self._queues:
            self._queues.remove(self._queue)


class Heartline:
    """A device's session with its pair; create it with :func:`connect`."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._queues: list[asyncio.Queue[Event]] = []
        self._callbacks: dict[str | None, list[Callback]] = {}
        self.history_lost = asyncio.Event()
        """Set when the hub could not replay what was missed and sent a fresh state."""
        connection.on_event = self._deliver
        connection.on_history_lost = self.history_lost.set

    # The state.

    @property
    def shared(self) -> SharedState:
        assert self._connection.shared is not None
        return self._connection.shared

    @property
    def state(self) -> State:
        """Both members' status, spaces, open bids, presence and the version; always current."""
        return self.shared.state

    @property
    def member(self) -> str:
        return self.shared.member

    @property
    def partner(self) -> str | None:
        return self.shared.partner

    @property
    def connected(self) -> bool:
        return self._connection.connected.is_set()

    @property
    def ended(self) -> SessionEnded | None:
        """Why the hub ended the session for good (revoked, unpaired...), or None."""
        return self._connection.ended

    def seconds_left(self, member: str | None = None) -> float | None:
        """Seconds until a space ends (the partner's by default), by the hub's clock."""
        return self.shared.seconds_left(member)

    # The vocabulary.

    async def need_space(
        self, *, minutes: float | None = None, seconds: int | None = None, note: str | None = None
    ) -> Event:
        """Send "I need space for this long; I will come back"."""
        duration = seconds if seconds is not None else round((minutes or 0) * 60)
        return await self.send(NeedSpace(duration=duration, note=note))

    async def im_back(self, note: str | None = None) -> Event:
        return await self.send(ImBack(note=note))

    async def feeling_disconnected(self, note: str | None = None, wish: str | None = None) -> Event:
        return await self.send(FeelingDisconnected(note=note, wish=wish))

    async def check_in(self, note: str | None = None) -> Event:
        return await self.send(CheckIn(note=note))

    async def ack(self, event: Event | int, reply: str | None = "I hear you") -> Event:
        """Send "I hear you" for the partner's bid or check-in."""
        target = event.seq if isinstance(event, Event) else event
        return await self.send(Ack(target=target, reply=reply))

    async def send(self, body: SignalBody, *, id: str | None = None) -> Event:
        """Send any signal; its stored event once the hub has stored it."""
        request_id = id or f"c-{secrets.token_hex(8)}"
        result = await self._connection.call(request_id, Signal(request_id, body))
        assert result.event is not None
        return result.event

    # Events.

    def events(self) -> EventStream:
        """Every event from this call on, in order, each once: ``async for event in ...``."""
        return EventStream(self._queues)

    def on(self, kind: str | None, callback: Callback) -> None:
        """Call ``callback`` for each event of ``kind`` (every event if None)."""
        self._callbacks.setdefault(kind, []).append(callback)

    def _deliver(self, event: Event) -> None:
        for queue in self._queues:
            queue.put_nowait(event)
        for callback in (*self._callbacks.get(event.kind, ()), *self._callbacks.get(None, ())):
            callback(event)

    async def close(self) -> None:
        await self._connection.close()


@asynccontextmanager
async def connect(url: str, token: str, options: Options | None = None) -> AsyncIterator[Heartline]:
    """Open a session with the hub at ``url`` (``ws://host:port/v1/ws``) as ``token``'s device."""
    connection = Connection(url, token, options)
    await connection.start()
    client = Heartline(connection)
    try:
        yield client
    finally:
        await client.close()
