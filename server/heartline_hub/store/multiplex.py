"""One Redis connection shared by every task, its commands pipelined.

redis-py checks a connection out of its pool for every command, arms a
timeout around it, packs it in Python and holds the connection until the
reply is in: about 100 µs of the hub's core per command, measured
(BENCHMARKS.md, "profile"). Redis answers the commands of one connection in
the order they were sent, so one connection can carry every task's commands
at once: each command is packed by hiredis and queued with a future;
whatever was queued in one turn of the event loop leaves in one write, so
signals arriving together share one round trip; replies, parsed by hiredis,
resolve the futures in order.

The hot path (storing an event, loading a pair, its timers) runs here; the
rest of the store uses redis-py. Failures look like redis-py's, so the store
translates both the same way: a lost connection fails every command waiting
on it with ``ConnectionError`` and the next command reconnects; a command
with no reply within ``timeout_s`` (Redis stopped, the network gone) aborts
the connection and fails its commands with ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import ssl
import time
from collections.abc import Sequence
from typing import Any, Protocol

import hiredis
from redis import exceptions as redis_errors

from .address import Endpoint, parse_address

__all__ = ["Multiplexed", "NotReplicated", "Pipelined", "Script"]

WATCHDOG_INTERVAL_S = 0.25
_ERRORS_BY_PREFIX: dict[str, type[redis_errors.RedisError]] = {
    "NOSCRIPT": redis_errors.NoScriptError,
    "LOADING": redis_errors.BusyLoadingError,
    "READONLY": redis_errors.ReadOnlyError,
    "MOVED": redis_errors.MovedError,
    "ASK": redis_errors.AskError,
    "TRYAGAIN": redis_errors.TryAgainError,
    "CLUSTERDOWN": redis_errors.ClusterDownError,
    "MASTERDOWN": redis_errors.MasterDownError,
}


class NotReplicated(redis_errors.ConnectionError):
    """A write was done but fewer replicas than asked confirmed it in time (``WAIT``).

    A connection error to the rest of the hub: the write is not acknowledged,
    and a client resending it with the same idempotency key gets the stored
    result if the write survived, or stores it anew if a failover lost it.
    """


class Pipelined(Protocol):
    """What the hot path needs of Redis: one server (:class:`Multiplexed`) or a cluster."""

    async def execute(self, *args: Any) -> Any: ...

    async def execute_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    async def execute_each(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Like ``execute_many``, but each command's failure is returned in its place."""
        ...

    async def execute_replicated(self, args: tuple[Any, ...], replicas: int, wait_ms: int) -> Any:
        """Run a write, then wait until ``replicas`` replicas have it (``NotReplicated``)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class Script:
    """A Lua script run by its digest, sent in full only when the server lacks it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self,
        connection: Pipelined,
        keys: list[Any],
        args: list[Any],
        *,
        replicas: int = 0,
        wait_ms: int = 0,
    ) -> Any:
        """Run the script; with ``replicas``, answer only once that many replicas have it."""
        tail = (len(keys), *keys, *args)
        try:
            return await _run(connection, ("EVALSHA", self.sha, *tail), replicas, wait_ms)
        except redis_errors.NoScriptError:
            return await _run(connection, ("EVAL", self.source, *tail), replicas, wait_ms)

    async def many(
        self, connection: Pipelined, calls: Sequence[tuple[list[Any], list[Any]]]
    ) -> list[Any]:
        """Run the script once per (keys, args), all in one round trip (per primary).

        A call the server answers with NOSCRIPT (it lost its scripts) is run
        again with the source; the first other failure is raised.
        """
        commands = [("EVALSHA", self.sha, len(keys), *keys, *args) for keys, args in calls]
        outcomes = await connection.execute_each(commands)
        for n, outcome in enumerate(outcomes):
            if isinstance(outcome, redis_errors.NoScriptError):
                keys, args = calls[n]
                outcomes[n] = await self(connection, keys, args)
        failure = next((item for item in outcomes if isinstance(item, Exception)), None)
        if failure is not None:
            raise failure
        return outcomes


async def _run(connection: Pipelined, command: tuple[Any, ...], replicas: int, wait_ms: int) -> Any:
    if replicas:
        return await connection.execute_replicated(command, replicas, wait_ms)
    return await connection.execute(*command)


class _Replies(asyncio.Protocol):
    """The socket's side: bytes in, parsed replies out to the waiting futures, in order."""

    def __init__(self, owner: Multiplexed) -> None:
        self._owner = owner
        self._reader = hiredis.Reader(replyError=redis_errors.ResponseError)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self._owner.resolve_next(reply)
        except hiredis.ProtocolError as error:
            self._owner.abort(redis_errors.ConnectionError(f"bad reply from Redis: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.lost(exc)


class Multiplexed:
    """A pipelined connection to one server (a ``redis://``, ``rediss://`` or ``unix://`` URL)."""

    def __init__(
        self, endpoint: Endpoint | str, *, timeout_s: float, connect_timeout_s: float
    ) -> None:
        if isinstance(endpoint, str):
            endpoint = parse_address(endpoint).server
        self.endpoint = endpoint
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._transport: asyncio.Transport | None = None
        self._opening: asyncio.Future[None] | None = None
        self._pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._outbox: list[bytes] = []
        self._failure: Exception | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] | None = None
        self._turn_wait: tuple[asyncio.Future[Any], int, int] | None = None
        self._flush_scheduled = False

    @property
    def local_address(self) -> str | None:
        """``host:port`` of this end, as the server's ``CLIENT LIST`` names it (``addr``)."""
        if self._transport is None:
            return None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    async def execute(self, *args: Any) -> Any:
        """Send one command and wait for its reply (errors raised as redis-py's exceptions)."""
        if self._transport is None:
            await self._open()
        return await self._send(args)

    def send_now(self, *args: Any) -> asyncio.Future[Any] | None:
        """Queue a command at once, ahead of anything sent after it; its reply's future.

        None when the connection is not open (use :meth:`execute`). The
        command leaves with the rest of this loop turn's commands, and Redis
        runs it before them: a caller can queue a write, then the write that
        must follow it, and wait for both in one round trip.
        """
        if self._transport is None:
            return None
        return self._send(args)

    async def execute_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send several commands at once (one round trip); their replies in the same order.

        The first failure, in command order, is raised.
        """
        outcomes = await self.execute_each(commands)
        failure = next((item for item in outcomes if isinstance(item, Exception)), None)
        if failure is not None:
            raise failure
        return outcomes

    async def execute_each(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Like :meth:`execute_many`, but each command's failure is returned in its place."""
        if self._transport is None:
            await self._open()
        futures = [self._send(command) for command in commands]
        await _settled(futures, futures[-1] if futures else None)
        return [future.exception() or future.result() for future in futures]

    async def execute_replicated(self, args: tuple[Any, ...], replicas: int, wait_ms: int) -> Any:
        [reply] = await self.execute_many_replicated([args], replicas, wait_ms)
        return reply

    async def execute_many_replicated(
        self, commands: Sequence[tuple[Any, ...]], replicas: int, wait_ms: int
    ) -> list[Any]:
        """Run writes, then wait until ``replicas`` replicas have them (``NotReplicated``).

        The ``WAIT`` leaves once the writes are answered, not in the same
        write: Valkey answered 1 to 2% of ``WAIT`` commands that arrived with
        their write about 40 ms late (measured at 100 to 500 writes/s; sent
        after the reply, none took over 4 ms). ``WAIT`` holds the connection
        until it returns and confirms every write sent before it, so the
        writes answered in one loop turn share one ``WAIT``.
        """
        replies = await self.execute_many(commands)
        confirmation = self._wait_after_turn(replicas, wait_ms)
        await _settled([confirmation], confirmation, shared=True)
        confirmed = confirmation.result()
        if confirmed < replicas:
            raise NotReplicated(
                f"{confirmed} of {replicas} replicas confirmed the write within {wait_ms} ms"
            )
        return replies

    async def ping(self) -> None:
        await self.execute("PING")

    async def close(self) -> None:
        """Close the connection and wait until it is closed (commands waiting on it fail)."""
        transport = self._transport
        if transport is None:
            return
        self._closed = asyncio.get_running_loop().create_future()
        transport.close()
        await self._closed

    # Called by the protocol.

    def resolve_next(self, reply: Any) -> None:
        if not self._pending:
            return
        future, _ = self._pending.popleft()
        if future.done():
            return
        if isinstance(reply, redis_errors.ResponseError):
            future.set_exception(typed_error(reply))
        else:
            future.set_result(reply)

    def abort(self, failure: Exception) -> None:
        self._failure = failure
        if self._transport is not None:
            self._transport.abort()

    def lost(self, exc: Exception | None) -> None:
        failure = self._failure or redis_errors.ConnectionError(
            f"connection to Redis lost: {exc}" if exc else "connection to Redis closed"
        )
        self._transport = None
        self._failure = None
        self._outbox.clear()
        self._stop_watchdog()
        pending, self._pending = self._pending, collections.deque()
        if self._turn_wait is not None:
            pending.append((self._turn_wait[0], 0.0))
            self._turn_wait = None
        for future, _ in pending:
            if not future.done():
                future.set_exception(failure)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    # Sending.

    def _send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue a command; the future gets its reply."""
        future = asyncio.get_running_loop().create_future()
        self._send_unanswered(args)
        self._pending.append((future, time.monotonic()))
        return future

    def _send_unanswered(self, args: tuple[Any, ...]) -> None:
        """Queue a command whose replies nobody waits for (pub/sub's, which are pushes)."""
        if self._transport is None:
            raise redis_errors.ConnectionError("connection to Redis lost")
        try:
            packed = hiredis.pack_command(args)
        except TypeError as error:
            raise redis_errors.DataError(str(error)) from None
        self._schedule_flush()
        self._outbox.append(packed)

    def _wait_after_turn(self, replicas: int, wait_ms: int) -> asyncio.Future[Any]:
        """The future of the ``WAIT`` that :meth:`_flush` sends after this turn's commands."""
        if self._transport is None:
            raise redis_errors.ConnectionError("connection to Redis lost")
        if self._turn_wait is None:
            self._schedule_flush()
            self._turn_wait = (asyncio.get_running_loop().create_future(), replicas, wait_ms)
        else:
            future, most, longest = self._turn_wait
            self._turn_wait = (future, max(most, replicas), max(longest, wait_ms))
        return self._turn_wait[0]

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._turn_wait is not None:
            future, replicas, wait_ms = self._turn_wait
            self._turn_wait = None
            command: tuple[Any, ...] = ("WAIT", replicas, wait_ms)
            self._outbox.append(hiredis.pack_command(command))
            self._pending.append((future, time.monotonic()))
        outbox, self._outbox = self._outbox, []
        if self._transport is not None and outbox:
            self._transport.write(b"".join(outbox))
            if self._watchdog is None and self._pending:
                self._start_watchdog()

    # Connecting.

    async def _open(self) -> None:
        """Connect once for every task that finds the connection closed."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
            self._opening.add_done_callback(self._opened)
        await asyncio.shield(self._opening)

    def _opened(self, opening: asyncio.Future[None]) -> None:
        self._opening = None
        if not opening.cancelled():
            opening.exception()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await asyncio.wait_for(
                self._create_connection(loop), self._connect_timeout_s
            )
        except TimeoutError:
            raise redis_errors.TimeoutError("timed out connecting to Redis") from None
        except OSError as error:
            raise redis_errors.ConnectionError(f"cannot connect to Redis: {error}") from None
        self._transport = transport
        try:
            await self._introduce()
        except redis_errors.ResponseError as error:
            self.abort(redis_errors.ConnectionError("Redis refused the connection"))
            raise redis_errors.AuthenticationError(str(error)) from None

    async def _create_connection(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        endpoint = self.endpoint
        if endpoint.path is not None:
            return await loop.create_unix_connection(lambda: _Replies(self), endpoint.path)
        tls = ssl.create_default_context() if endpoint.tls else None
        return await loop.create_connection(
            lambda: _Replies(self), endpoint.host, endpoint.port, ssl=tls
        )

    async def _introduce(self) -> None:
        """Authenticate and pick the database the URL names, before any other command."""
        endpoint = self.endpoint
        if endpoint.password is not None:
            password, username = endpoint.password, endpoint.username
            credentials = (password,) if username is None else (username, password)
            await self._send(("AUTH", *credentials))
        if endpoint.db:
            await self._send(("SELECT", endpoint.db))

    # Noticing a server that stopped answering.
    #
    # The watchdog looks every WATCHDOG_INTERVAL_S while replies are awaited
    # and rests once none are (the next flush wakes it): an idle hub's
    # connections would otherwise wake its loop four times a second each.

    def _start_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(WATCHDOG_INTERVAL_S, self._watch)

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _watch(self) -> None:
        if not self._pending:
            self._watchdog = None
            return
        if time.monotonic() - self._pending[0][1] > self._timeout_s:
            self.abort(redis_errors.TimeoutError(f"no reply from Redis in {self._timeout_s} s"))
            return
        self._start_watchdog()


async def _settled(
    futures: list[asyncio.Future[Any]], last: asyncio.Future[Any] | None, *, shared: bool = False
) -> None:
    """Wait until ``futures`` are all done.

    Replies resolve them in order, so once ``last`` is done every one is:
    waiting for it alone spares ``gather``'s callback on each of what can be
    thousands of futures (the fan-out's check of every room). Cancelled, it
    cancels them, but not a ``last`` that other callers share (a turn's
    ``WAIT``).
    """
    if last is None:
        return
    try:
        with contextlib.suppress(redis_errors.RedisError):
            await (asyncio.shield(last) if shared else last)
    except asyncio.CancelledError:
        for future in futures:
            if not (shared and future is last):
                future.cancel()
        raise


def typed_error(error: redis_errors.ResponseError) -> redis_errors.RedisError:
    """The redis-py exception class for an error reply, from its prefix."""
    message = str(error)
    prefix, _, rest = message.partition(" ")
    kind = _ERRORS_BY_PREFIX.get(prefix)
    if kind is None:
        return error
    # A redirection's exception reads its slot and node from the text after the prefix.
    return kind(rest) if issubclass(kind, redis_errors.AskError) else kind(message)
