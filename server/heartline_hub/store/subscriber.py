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
from collections.abc import Callable, Sequence
from typing import Any

from redis import exceptions as redis_errors

from .address import Endpoint
from .multiplex import Multiplexed, typed_error

__all__ = ["PUSH_KINDS", "Inbox", "Push", "Subscriber", "SubscriptionRefused"]

PUSH_KINDS = frozenset(
    {b"message", b"subscribe", b"unsubscribe", b"smessage", b"ssubscribe", b"sunsubscribe"}
)
"""Replies that are pub/sub pushes rather than answers to a command."""

Push = tuple[bytes, bytes, Any]
"""``(kind, channel, payload)``: payload is the message, or the count of channels."""


class SubscriptionRefused(redis_errors.ConnectionError):
    """The server refused a (un)subscription; ``answer`` says why (``MovedError``: a moved slot)."""

    def __init__(self, answer: redis_errors.RedisError) -> None:
        super().__init__(f"subscription refused: {answer}")
        self.answer = answer


class Inbox:
    """Pushes from one or more subscribed connections, in arrival order, for one reader.

    Once a connection that feeds it is lost the inbox is broken for good:
    whatever was published meanwhile is gone, so the reader must start over
    with a new subscription and catch up from the log.
    """

    def __init__(self) -> None:
        self._pushes: collections.deque[Push] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._gone: Exception | None = None

    def put(self, push: Push) -> None:
        self._pushes.append(push)
        self._wake()

    def fail(self, error: Exception) -> None:
        if self._gone is None:
            self._gone = error
        self._wake()

    def raise_if_gone(self) -> None:
        if self._gone is not None:
            raise self._gone

    async def next(self, timeout: float) -> Push | None:
        """The next push, or None when nothing came within ``timeout``."""
        if not self._pushes:
            self.raise_if_gone()
            if not await self._wait(timeout):
                return None
        return self._pushes.popleft()

    async def _wait(self, timeout: float) -> bool:
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
            self.raise_if_gone()
        return bool(self._pushes)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Subscriber(Multiplexed):
    """A subscribed connection to one server.

    ``sharded`` uses sharded pub/sub (``SSUBSCRIBE``, a cluster's), one command
    per channel since one command may only name channels of one slot. Several
    subscribers may share one :class:`Inbox` (a cluster's nodes); a failure
    (the connection lost, a subscription refused) goes to ``on_failure``,
    which by default breaks the inbox.
    """

    def __init__(
        self,
        endpoint: Endpoint | str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        inbox: Inbox | None = None,
        sharded: bool = False,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        super().__init__(endpoint, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)
        self.inbox = Inbox() if inbox is None else inbox
        self._sharded = sharded
        self._on_failure = self.inbox.fail if on_failure is None else on_failure

    async def subscribe(self, channels: Sequence[str]) -> None:
        """Ask for ``channels``; each confirmation arrives as a ``(s)subscribe`` push."""
        await self._command("SSUBSCRIBE" if self._sharded else "SUBSCRIBE", channels)

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        await self._command("SUNSUBSCRIBE" if self._sharded else "UNSUBSCRIBE", channels)

    async def next_message(self, timeout: float) -> Push | None:
        """The next push, or None when nothing came within ``timeout``."""
        push = await self.inbox.next(timeout)
        if push is None:
            self.ping_soon()
        return push

    def ping_soon(self) -> None:
        """A PING whose late answer makes the watchdog abort the connection."""
        if self._transport is None or self._pending:
            return
        self._send(("PING",)).add_done_callback(_ignore_outcome)

    # Called by the protocol.

    def resolve_next(self, reply: Any) -> None:
        if type(reply) is list and reply and reply[0] in PUSH_KINDS:
            self.inbox.put((reply[0], reply[1], reply[-1]))
        elif isinstance(reply, redis_errors.ResponseError) and not self._pending:
            # A refused (un)subscription (a moved slot): nothing waits for its answer.
            self._on_failure(SubscriptionRefused(typed_error(reply)))
        else:
            super().resolve_next(reply)

    def lost(self, exc: Exception | None) -> None:
        super().lost(exc)
        self._on_failure(redis_errors.ConnectionError("pub/sub connection lost"))

    # Helpers.

    async def _command(self, name: str, channels: Sequence[str]) -> None:
        """Send a (un)subscription: its replies are pushes, so nothing waits for them."""
        if not channels:
            return
        self.inbox.raise_if_gone()
        if self._transport is None:
            await self._open()
        self.inbox.raise_if_gone()
        if self._sharded:
            for channel in channels:
                self._send_unanswered((name, channel))
        else:
            self._send_unanswered((name, *channels))


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
