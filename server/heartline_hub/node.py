"""The hub process: owns the store, the journal, the fan-out, the timers, the heartbeat
and the sessions.

Lifecycle: ``start`` when the app starts; ``drain`` on SIGTERM (goaway to
every client, let in-flight signals finish, close with ``going_away``);
``stop`` last.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import structlog

from heartline_protocol import CloseCode

from .fanout import Fanout, Listener
from .heartbeat import Heartbeat
from .journal import Journal
from .overload import Overload
from .presence import Keeper
from .session import Session
from .settings import Settings
from .store import Store
from .timers import Timers

__all__ = ["Node"]

log = structlog.get_logger(__name__)


class Node:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.limits = settings.limits
        """Built once: every frame a client sends is checked against them."""
        self.store = store
        self.hub_id = settings.hub_id or _default_hub_id()
        self.journal = Journal(store)
        self.fanout = Fanout(store, self.journal)
        self.journal.fanout = self.fanout
        self.timers = Timers(self)
        self.keeper = Keeper(self)
        self.heartbeat = Heartbeat(settings.heartbeat_ms / 1000)
        self.sessions: set[Session] = set()
        self.streams: set[Listener] = set()
        """Server-Sent Event streams (sse.py), ended when the hub drains."""
        self.overload = Overload(settings.overload_lag_ms)
        self.draining = False

    async def start(self) -> None:
        self.overload.start()
        await self.fanout.start()
        self.timers.start()
        self.keeper.start()
        self.heartbeat.start()

    async def drain(self) -> None:
        """Tell every client to go elsewhere, finish in-flight signals, then close them."""
        self.draining = True
        sessions = tuple(self.sessions)
        log.info("hub_draining", sessions=len(sessions))
        for session in sessions:
            session.goaway()
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while any(session.busy for session in sessions) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for session in sessions:
            session.end(CloseCode.GOING_AWAY, "hub draining")
        for stream in tuple(self.streams):
            stream.end(CloseCode.GOING_AWAY, "hub draining")

    async def stop(self) -> None:
        self.overload.stop()
        await self.heartbeat.stop()
        await self.timers.stop()
        await self.keeper.stop()
        await self.fanout.stop()


def _default_hub_id() -> str:
    """Host and pid, plus a random part: a container's hub is often pid 1 after a restart."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
