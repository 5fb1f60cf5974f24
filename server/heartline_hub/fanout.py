"""Live fan-out: the local index of sessions by pair, fed by pub/sub.

Each stored event is published on its pair's channel as ``e<seq>:<at>:<frame>``
(see store/lua/append.lua). This hub subscribes to the channel of every pair
it has a session of, and a :class:`Room` per pair forwards each event to its
sessions in sequence order. Pub/sub may lose messages (a dropped connection,
a subscriber cut off by Redis); the log does not. So a room that sees a gap
in sequence numbers reads the missing events from the log first, and after
the subscription reconnects every room catches up from the log: an event is
late at worst, never lost.

This hub's own events go to its sessions at once (:meth:`Fanout.deliver_local`),
and their pub/sub echo is dropped. So an append tells the script when this
hub listens on the pair's channel (a :meth:`Fanout.claim_listening` claim),
and the script publishes only if some other hub listens too: for a pair
whose devices are all on this hub, as for a couple with one phone online,
nothing is published, received and dropped. A room is not unsubscribed
while a claim on it is held (an UNSUBSCRIBE, sent on the subscriber
connection, could reach Redis before the append and make this hub's claim
false). If this hub's subscription was lost without it knowing yet, a
skipped publish can leave another hub's room without the event until that
room's next event or catch-up: late, as with any lost message, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator
from typing import Protocol

import structlog

from heartline_protocol import CloseCode, ErrorCode, ProtocolError

from .beat import sleep_to_beat, until_beat
from .clock import now_ms
from .journal import Journal
from .metrics import DELIVERY_LATENCY
from .store import Store, StoreUnavailable, Subscription
from .tasks import cancel_and_wait

__all__ = ["Fanout", "Listener", "Room"]

log = structlog.get_logger(__name__)

HEAL_BATCH = 500
CATCH_UP_CYCLE_S = 30.0
"""How often each room's version is read, to heal a lost last event of a quiet pair."""
CATCH_UP_TICK_S = 1.0
QUIET_SUBSCRIPTION_S = 1.0
"""After this long without a message the subscription is pinged, to notice a dead link."""
RECONNECT_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Listener(Protocol):
    """What a room needs of a session."""

    @property
    def device_id(self) -> str: ...

    def deliver(self, seq: int, frame: bytes) -> None: ...

    def end(self, code: CloseCode, reason: str, error: ProtocolError | None = None) -> None: ...


class Room:
    """The sessions of one pair on this hub, and the last event forwarded to them."""

    def __init__(self, pair_id: str) -> None:
        self.pair_id = pair_id
        self.listeners: set[Listener] = set()
        self.last_seq = 0
        self.subscribed = asyncio.get_running_loop().create_future()
        self.lock = asyncio.Lock()
        self.claims = 0
        """Appends on their way that told the script this hub listens on the channel."""
        self._waiting_unclaimed: list[asyncio.Future[None]] = []

    def release(self) -> None:
        """An append that claimed this hub listens was answered (see the module's docstring)."""
        self.claims -= 1
        if not self.claims:
            waiting, self._waiting_unclaimed = self._waiting_unclaimed, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)

    async def unclaimed(self) -> None:
        """Once no append on its way claims this hub listens on the room's channel."""
        while self.claims:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting_unclaimed.append(waiter)
            await waiter

    def forward(self, seq: int, frame: bytes) -> None:
        """Send an event to every session, unless it was already forwarded."""
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        for listener in tuple(self.listeners):
            listener.deliver(seq, frame)

    def end_device(self, device_id: str, code: CloseCode, error: ProtocolError) -> None:
        for listener in tuple(self.listeners):
            if listener.device_id == device_id:
                listener.end(code, error.message, error)

    def end_all(self, code: CloseCode, reason: str) -> None:
        for listener in tuple(self.listeners):
            listener.end(code, reason)


class Fanout:
    def __init__(self, store: Store, journal: Journal) -> None:
        self._store = store
        self._journal = journal
        self._rooms: dict[str, Room] = {}
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._heals: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    def serves(self, pair_id: str) -> bool:
        """Whether this hub has a session of the pair."""
        return pair_id in self._rooms

    @property
    def rooms(self) -> Iterator[Room]:
        return iter(tuple(self._rooms.values()))

    def claim_listening(self, pair_id: str) -> Room | None:
        """The pair's room if this hub listens on its channel; it stays subscribed
        until the claim is released (:meth:`Room.release`)."""
        room = self._rooms.get(pair_id)
        if room is None or not room.subscribed.done() or not self.connected.is_set():
            return None
        room.claims += 1
        return room

    def deliver_local(self, pair_id: str, seq: int, frame: bytes, *, echoed: bool = True) -> None:
        """Forward an event this hub just stored, without waiting for its pub/sub echo.

        At once when it is the room's next event and no catch-up is running.
        Otherwise an earlier event is still on its way: the echo (which heals
        gaps) delivers this one in order, or, when nothing was published
        (``echoed`` false), the room is healed from the log up to it. The
        echo of an event delivered here is dropped by its sequence number.
        """
        room = self._rooms.get(pair_id)
        if room is None or seq <= room.last_seq:
            return
        if not room.lock.locked() and seq == room.last_seq + 1:
            room.forward(seq, frame)
        elif not echoed:
            self._heal_soon(room, seq)

    def _heal_soon(self, room: Room, through: int) -> None:
        task = asyncio.get_running_loop().create_task(self._heal_locked(room, through))
        self._heals.add(task)
        task.add_done_callback(self._heals.discard)

    async def _heal_locked(self, room: Room, through: int) -> None:
        """Heal a room up to an event of this hub's that was not published; if the log
        cannot be read now, the catch-up cycle heals it later."""
        try:
            async with room.lock:
                await self._heal(room, through)
        except StoreUnavailable as error:
            log.warning("fanout_heal_failed", pair=room.pair_id, error=str(error))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._catch_up())]

    async def stop(self) -> None:
        for task in (*self._tasks, *self._heals):
            await cancel_and_wait(task)
        if self._subscription is not None:
            await self._subscription.close()

    async def attach(self, pair_id: str, listener: Listener, timeout: float = 5.0) -> Room:
        """Add a session to its pair's room, subscribing first if it is the pair's first.

        Returns once the subscription is confirmed, so that every event stored
        from then on reaches the listener.
        """
        room = self._rooms.get(pair_id)
        if room is None:
            room = self._rooms[pair_id] = Room(pair_id)
            await self._subscribe(room)
        room.listeners.add(listener)
        try:
            await asyncio.wait_for(asyncio.shield(room.subscribed), timeout)
        except TimeoutError:
            room.listeners.discard(listener)
            raise StoreUnavailable("pub/sub subscription not confirmed") from None
        return room

    async def detach(self, pair_id: str, listener: Listener) -> None:
        room = self._rooms.get(pair_id)
        if room is None:
            return
        room.listeners.discard(listener)
        await room.unclaimed()
        if not room.listeners and self._rooms.get(pair_id) is room:
            del self._rooms[pair_id]
            self._journal.forget(pair_id)
            if self._subscription is not None:
                with contextlib.suppress(StoreUnavailable):
                    await self._subscription.unsubscribe(pair_id)

    async def _subscribe(self, room: Room) -> None:
        if self._subscription is not None and self.connected.is_set():
            try:
                await self._subscription.subscribe([room.pair_id])
            except StoreUnavailable:
                self.connected.clear()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                attempt = 0
                await self._pump()
            except StoreUnavailable as error:
                self.connected.clear()
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("pubsub_lost", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)

    async def _connect(self) -> None:
        """A fresh subscription to every room, then catch every room up from the log."""
        if self._subscription is not None:
            await self._subscription.close()
        self._subscription = self._store.subscription()
        for room in self.rooms:
            if room.subscribed.done():
                room.subscribed = asyncio.get_running_loop().create_future()
        await self._subscription.subscribe([room.pair_id for room in self.rooms])
        self.connected.set()

    async def _pump(self) -> None:
        assert self._subscription is not None
        loop = asyncio.get_running_loop()
        while True:
            quiet_s = until_beat(QUIET_SUBSCRIPTION_S, loop.time())
            message = await self._subscription.next_message(timeout=quiet_s)
            if message is None:
                continue
            kind, pair_id, payload = message
            room = self._rooms.get(pair_id)
            if room is None or (kind == "message" and _forwarded_already(room, payload)):
                continue
            async with room.lock:
                if kind == "subscribe":
                    await self._open_room(room)
                else:
                    await self._dispatch(room, payload)

    async def _open_room(self, room: Room) -> None:
        """The subscription is live: set where the room stands, or catch it up."""
        [version] = await self._store.versions([room.pair_id])
        if room.last_seq == 0 and not room.subscribed.done():
            room.last_seq = version
        elif 0 < version < room.last_seq:
            self._rewound(room, version)
        else:
            await self._heal(room, version)
        if not room.subscribed.done():
            room.subscribed.set_result(None)

    def _rewound(self, room: Room, version: int) -> None:
        """The log is shorter than what the room forwarded: a failover lost its last events.

        Sequence numbers after ``version`` will be used again for new events,
        which the room and its devices would take for ones they have. Its
        sessions are closed with ``unavailable``: they reconnect, and their
        resume position, ahead of the log, gets them ``history_lost`` and the
        state as it is now (SPEC.md 7.3).
        """
        log.warning("fanout_log_rewound", pair=room.pair_id, forwarded=room.last_seq, log=version)
        room.last_seq = version
        self._journal.forget(room.pair_id)
        room.end_all(CloseCode.UNAVAILABLE, "the pair's history went back; reconnect and resume")

    async def _dispatch(self, room: Room, payload: bytes) -> None:
        if payload[:1] == b"e":
            seq, at, frame = payload[1:].split(b":", 2)
            DELIVERY_LATENCY.observe(max(0, now_ms() - int(at)) / 1000)
            await self._event(room, int(seq), frame)
        elif payload[:1] == b"r":
            revoked = ProtocolError(ErrorCode.UNAUTHORIZED, "this device was revoked")
            room.end_device(payload[1:].decode(), CloseCode.UNAUTHORIZED, revoked)
        elif payload[:1] == b"u":
            room.end_all(CloseCode.UNPAIRED, "unpaired")

    async def _event(self, room: Room, seq: int, frame: bytes) -> None:
        if seq <= room.last_seq:
            return
        if seq > room.last_seq + 1:
            await self._heal(room, seq - 1)
        self._journal.observe(room.pair_id, seq, frame)
        room.forward(seq, frame)

    async def _heal(self, room: Room, through: int) -> None:
        """Forward the events after the room's last one, up to ``through``, from the log."""
        while room.last_seq < through:
            events = await self._store.read_events(room.pair_id, room.last_seq, HEAL_BATCH)
            if not events:
                return
            for seq, frame in events:
                if seq > through:
                    return
                self._journal.observe(room.pair_id, seq, frame)
                room.forward(seq, frame)
            log.info("fanout_healed", pair=room.pair_id, through=room.last_seq)

    async def _catch_up(self) -> None:
        """Heal rooms whose last event was lost on a quiet pair (no later event shows the gap).

        Every room's version is read once per ``CATCH_UP_CYCLE_S``, a slice
        each second: reading them all at once (thousands of commands, their
        replies and the comparisons in one stretch) held the hub's core for
        tens of milliseconds every few seconds, which showed as bursts of
        late deliveries under load. The rooms are listed once a cycle (a room
        that opens meanwhile starts from a fresh read of its log anyway).
        """
        rooms: list[Room] = []
        cursor = 0
        while True:
            await sleep_to_beat(CATCH_UP_TICK_S)
            if cursor >= len(rooms):
                rooms = [room for room in self.rooms if room.subscribed.done()]
                cursor = 0
            if not rooms or not self.connected.is_set():
                continue
            share = math.ceil(len(rooms) * CATCH_UP_TICK_S / CATCH_UP_CYCLE_S)
            still_open = [
                room
                for room in rooms[cursor : cursor + share]
                if self._rooms.get(room.pair_id) is room
            ]
            cursor += share
            if still_open:
                await self._check_versions(still_open)

    async def _check_versions(self, rooms: list[Room]) -> None:
        # Events forwarded while the versions are read are newer than the read.
        forwarded = [room.last_seq for room in rooms]
        try:
            versions = await self._store.versions([room.pair_id for room in rooms])
            for room, version, before in zip(rooms, versions, forwarded, strict=True):
                if version > room.last_seq:
                    async with room.lock:
                        await self._heal(room, version)
                elif 0 < version < before:
                    self._rewound(room, version)
        except StoreUnavailable as error:
            log.warning("catch_up_failed", error=str(error))


def _forwarded_already(room: Room, payload: bytes) -> bool:
    """An event's message whose event the room has forwarded: mostly the echo of this
    hub's own append, delivered at once (``deliver_local``); dropped before any work."""
    if payload[:1] != b"e":
        return False
    return int(payload[1 : payload.index(b":")]) <= room.last_seq
