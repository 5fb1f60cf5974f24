"""The hub's pub/sub connection, on the same machinery as the pipelined one.

Every stored event reaches the hub as a pub/sub message, so this is the
other half of a signal's cost. redis-py's ``PubSub`` spent about 40 µs of
the hub's core per message in its generic reply handling (it even asks
``logging`` for a logger on each push) before the hub saw the message; here a
message is a list hiredis already parsed, appended to a queue.

A subscriber connects once. When its connection is lost it stays lost:
:meth:`Subscriber.next_message` raises, and the caller opens a new one and
catches up from the log (fanout.py), since messages published meanwhile are
gone. While nothing arrives, a ``PING`` every idle period lets the
watchdog of :class:`Multiplexed` notice a server that stopped answering.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors

from .multiplex import Multiplexed

__all__ = ["PUSH_KINDS", "Subscriber"]

PUSH_KINDS = frozenset(
    {b"message", b"subscribe", b"unsubscribe", b"smessage", b"ssubscribe", b"sunsubscribe"}
)
"""Replies that are pub/sub pushes rather than answers to a command."""

Push = tuple[bytes, bytes, Any]
"""``(kind, channel, payload)``: payload is the message, or the count of channels."""


class Subscriber(Multiplexed):
    def __init__(self, url: str, *, timeout_s: float, connect_timeout_s: float) -> None:
        super().__init__(url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)
        self._pushes: collections.deque[Push] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._gone: Exception | None = None

    async def subscribe(self, channels: Sequence[str]) -> None:
        """Ask for ``channels``; each confirmation arrives as a ``subscribe`` push."""
        await self._command("SUBSCRIBE", channels)

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        await self._command("UNSUBSCRIBE", channels)

    async def next_message(self, timeout: float) -> Push | None:
        """The next push, or None when nothing came within ``timeout``."""
        if not self._pushes:
            self._raise_if_gone()
            if not await self._wait_for_push(timeout):
                self._ping()
                return None
        return self._pushes.popleft()

    # Called by the protocol.

    def resolve_next(self, reply: Any) -> None:
        if type(reply) is list and reply and reply[0] in PUSH_KINDS:
            self._pushes.append((reply[0], reply[1], reply[-1]))
            self._wake()
        else:
            super().resolve_next(reply)

    def lost(self, exc: Exception | None) -> None:
        super().lost(exc)
        self._gone = redis_errors.ConnectionError("pub/sub connection lost")
        self._wake()

    # Helpers.

    async def _command(self, name: str, channels: Sequence[str]) -> None:
        """Send a (un)subscription: its replies are pushes, so nothing waits for them."""
        if not channels:
            return
        self._raise_if_gone()
        if self._transport is None:
            await self._open()
        self._raise_if_gone()
        self._send_unanswered((name, *channels))

    async def _wait_for_push(self, timeout: float) -> bool:
        """Wait for a push or ``timeout``; a timer handle, not ``wait_for``, which
        costs a task's worth of machinery for each of the many short waits."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if not self._pushes:
            self._raise_if_gone()
        return bool(self._pushes)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _ping(self) -> None:
        """A PING whose late answer makes the watchdog abort the connection."""
        if self._transport is None or self._pending:
            return
        self._send(("PING",)).add_done_callback(_ignore_outcome)

    def _raise_if_gone(self) -> None:
        if self._gone is not None:
            raise self._gone


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
