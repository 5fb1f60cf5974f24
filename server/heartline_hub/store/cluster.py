"""The hot path on a Redis Cluster: one pipelined connection per primary, routed by slot.

Every key of a pair shares the pair's hash tag, so each command and each
script of the hot path touches one slot, and goes to the primary that owns
it on that primary's :class:`Multiplexed` connection. The slot map comes from
``CLUSTER SLOTS``, asked of any node that answers (the seeds first time).

The cluster moves slots and promotes replicas while the hub runs:

- ``MOVED``: the slot has a new owner for good. The command goes there,
  and the whole map is read again before the next command.
- ``ASK``: the slot is half migrated and the key is already at the target.
  The command goes to the target once, after ``ASKING``, on the same
  connection and in the same write.
- ``TRYAGAIN``: the keys of a multi-key command are split between the two
  nodes of a migration; it is sent again after a short pause.
- ``CLUSTERDOWN``, or a primary that does not answer (dead, or not yet
  replaced by its replica): the command fails as unavailable at once and
  the map is read again before the next command, so devices get
  ``unavailable`` for the seconds a failover takes, then go on.

Sharded pub/sub (:class:`ClusterSubscriber`) uses the same map: each channel
is subscribed on its slot's primary.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.crc import key_slot

from ..metrics import REDIS_REDIRECTIONS, REDIS_SLOT_MAP_READS
from .address import Endpoint
from .multiplex import Multiplexed, NotReplicated
from .subscriber import Inbox, Push, Subscriber

__all__ = ["ClusterPipes", "ClusterSubscriber", "routing_key"]

SLOTS = 16_384
MAX_REDIRECTS = 8
TRYAGAIN_PAUSE_S = 0.02
SPLIT_SLOT_WAIT_S = 2.0
"""How long a command waits for a migrating slot whose keys it needs are on both sides."""
REFRESH_MIN_INTERVAL_S = 0.1
"""Reading the map again at most this often: while a dead primary is not yet
replaced, every command would otherwise ask for a map that has not changed."""
_MOVED, _ASK, _TRYAGAIN = (REDIS_REDIRECTIONS.labels(kind) for kind in ("moved", "ask", "tryagain"))


def routing_key(args: Sequence[Any]) -> Any:
    """The key that decides a command's slot: the first key of a script, else the first argument.

    The hot path's commands all name their key first (HGET, HGETALL, XRANGE,
    ZADD, ZREM, SPUBLISH's channel), and its scripts' keys share one slot.
    """
    name = str(args[0]).upper()
    if name in {"EVAL", "EVALSHA"}:
        return args[3]
    return args[1]


class ClusterPipes:
    """The pipelined connections to a cluster's primaries (see the module's docstring)."""

    def __init__(
        self, seeds: Sequence[Endpoint], *, timeout_s: float, connect_timeout_s: float
    ) -> None:
        self._seeds = tuple(seeds)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._owners: list[Endpoint | None] = [None] * SLOTS
        self._connections: dict[Endpoint, Multiplexed] = {}
        self._stale = True
        self._refreshed_at = 0.0
        self._refreshing: asyncio.Future[None] | None = None

    # The Pipelined interface.

    async def execute(self, *args: Any) -> Any:
        [reply] = await self._on_owner(routing_key(args), [args])
        return reply

    async def execute_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Commands grouped by primary, each group in one write; replies in command order.

        A command answered with a redirection is sent again on its own; the
        hot path sends only reads this way, which are safe to repeat.
        """
        outcomes = await self._each_by_owner(commands)
        for n, outcome in enumerate(outcomes):
            if isinstance(outcome, _REROUTED):
                outcomes[n] = await self.execute(*commands[n])
        failure = next((item for item in outcomes if isinstance(item, Exception)), None)
        if failure is not None:
            self._notice(failure)
            raise failure
        return outcomes

    async def execute_replicated(self, args: tuple[Any, ...], replicas: int, wait_ms: int) -> Any:
        reply, confirmed = await self._on_owner(
            routing_key(args), [args, ("WAIT", replicas, wait_ms)]
        )
        if confirmed < replicas:
            raise NotReplicated(
                f"{confirmed} of {replicas} replicas confirmed the write within {wait_ms} ms"
            )
        return reply

    async def ping(self) -> None:
        """Whether the cluster answers: its map can be read and its slots are all served."""
        self._stale = True
        await self._refresh_if_stale()

    async def close(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()

    # What the subscriber shares.

    async def owner(self, key: Any) -> Endpoint:
        """The primary that serves ``key``'s slot now."""
        await self._refresh_if_stale()
        return self._owner_of(key_slot(_as_bytes(key)))

    def invalidate(self) -> None:
        """Read the map again before the next command (a subscription saw a slot move)."""
        self._stale = True

    # Routing.

    async def _on_owner(self, key: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` together to the owner of ``key``'s slot, following redirections.

        A slot that stays split (``TRYAGAIN``) or keeps moving past the limits
        fails as a timeout: unavailable for now, like a server that is away.
        """
        slot = key_slot(_as_bytes(key))
        asked: Endpoint | None = None
        redirects = 0
        split_until = time.monotonic() + SPLIT_SLOT_WAIT_S
        while True:
            await self._refresh_if_stale()
            target = asked or self._owner_of(slot)
            batch = [("ASKING",), *commands] if asked else commands
            asked = None
            try:
                replies = await self._connection(target).execute_many(batch)
            except redis_errors.AskError as redirect:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise redis_errors.TimeoutError(f"slot {slot} keeps moving") from None
                if isinstance(redirect, redis_errors.MovedError):
                    _MOVED.inc()
                    self._moved(redirect)
                else:
                    _ASK.inc()
                    asked = self._endpoint_of(redirect)
                continue
            except redis_errors.TryAgainError:
                _TRYAGAIN.inc()
                if time.monotonic() > split_until:
                    raise redis_errors.TimeoutError(f"slot {slot} is still migrating") from None
                await asyncio.sleep(TRYAGAIN_PAUSE_S)
                continue
            except _GIVE_UP as error:
                self._notice(error)
                raise
            return replies[1:] if len(batch) > len(commands) else replies

    async def _each_by_owner(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        await self._refresh_if_stale()
        groups: dict[Endpoint, list[int]] = collections.defaultdict(list)
        for n, command in enumerate(commands):
            groups[self._owner_of(key_slot(_as_bytes(routing_key(command))))].append(n)
        outcomes: list[Any] = [None] * len(commands)

        async def send(owner: Endpoint, indexes: list[int]) -> None:
            try:
                replies = await self._connection(owner).execute_each([commands[n] for n in indexes])
            except _UNREACHABLE as error:
                replies = [error] * len(indexes)
            for n, reply in zip(indexes, replies, strict=True):
                outcomes[n] = reply

        await asyncio.gather(*(send(owner, indexes) for owner, indexes in groups.items()))
        return outcomes

    def _owner_of(self, slot: int) -> Endpoint:
        owner = self._owners[slot]
        if owner is None:
            self._stale = True
            raise redis_errors.ClusterDownError(f"no primary serves slot {slot}")
        return owner

    def _moved(self, redirect: redis_errors.AskError) -> None:
        self._owners[redirect.slot_id] = self._endpoint_of(redirect)
        self._stale = True

    def _endpoint_of(self, redirect: redis_errors.AskError) -> Endpoint:
        return self._seeds[0].at(str(redirect.host), int(redirect.port))

    def _notice(self, error: BaseException) -> None:
        if isinstance(error, _GIVE_UP):
            self._stale = True

    def _connection(self, endpoint: Endpoint) -> Multiplexed:
        connection = self._connections.get(endpoint)
        if connection is None:
            connection = self._connections[endpoint] = Multiplexed(
                endpoint, timeout_s=self._timeout_s, connect_timeout_s=self._connect_timeout_s
            )
        return connection

    # The slot map.

    async def _refresh_if_stale(self) -> None:
        if not self._stale:
            return
        if self._refreshing is None:
            if time.monotonic() - self._refreshed_at < REFRESH_MIN_INTERVAL_S:
                return
            self._refreshing = asyncio.ensure_future(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)
        await asyncio.shield(self._refreshing)

    def _refreshed(self, refreshing: asyncio.Future[None]) -> None:
        self._refreshing = None
        self._refreshed_at = time.monotonic()
        if not refreshing.cancelled():
            refreshing.exception()

    async def _refresh(self) -> None:
        """Read the slot map from the first node that answers: known primaries, then seeds."""
        failure: Exception = redis_errors.ConnectionError("no cluster node given")
        candidates = dict.fromkeys([*self._connections, *self._seeds])
        for candidate in candidates:
            REDIS_SLOT_MAP_READS.inc()
            try:
                reply = await self._connection(candidate).execute("CLUSTER", "SLOTS")
            except (redis_errors.RedisError, OSError) as error:
                failure = error
                continue
            self._owners = _slot_map(reply, candidate)
            self._stale = any(owner is None for owner in self._owners)
            await self._close_unused()
            return
        raise redis_errors.ConnectionError(f"no cluster node answered: {failure}")

    async def _close_unused(self) -> None:
        """Forget connections to nodes that serve no slot now (a primary turned replica)."""
        serving = set(self._owners)
        unused = [endpoint for endpoint in self._connections if endpoint not in serving]
        for endpoint in unused:
            connection = self._connections.pop(endpoint)
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await connection.close()


_UNREACHABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
)
_REROUTED = (redis_errors.AskError, redis_errors.TryAgainError)
_GIVE_UP: tuple[type[Exception], ...] = (redis_errors.ClusterDownError, *_UNREACHABLE)


def _slot_map(reply: list[Any], asked: Endpoint) -> list[Endpoint | None]:
    """``CLUSTER SLOTS`` as one owner per slot; an empty host means the node asked."""
    owners: list[Endpoint | None] = [None] * SLOTS
    for start, end, primary, *_replicas in reply:
        host = _as_text(primary[0]) or asked.host
        owner = asked.at(host, int(primary[1]))
        owners[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
    return owners


def _as_bytes(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


def _as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ClusterSubscriber:
    """Sharded pub/sub on a cluster: one subscribed connection per primary, one inbox.

    Each channel is subscribed on the primary of its slot. When a slot moves
    away, its node ends the subscriptions of its channels with an
    ``sunsubscribe`` nobody asked for; that breaks the inbox like a lost
    connection does, so the hub subscribes again where the slot is now and
    catches up from the log.
    """

    def __init__(self, pipes: ClusterPipes, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._pipes = pipes
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._inbox = Inbox()
        self._nodes: dict[Endpoint, Subscriber] = {}
        self._leaving: collections.Counter[bytes] = collections.Counter()

    async def subscribe(self, channels: Sequence[str]) -> None:
        await self._by_owner(channels, Subscriber.subscribe)

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        self._leaving.update(channel.encode() for channel in channels)
        await self._by_owner(channels, Subscriber.unsubscribe)

    async def next_message(self, timeout: float) -> Push | None:
        push = await self._inbox.next(timeout)
        if push is None:
            for node in self._nodes.values():
                node.ping_soon()
        elif push[0] == b"sunsubscribe":
            self._check_asked(push[1])
        return push

    async def close(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.close()

    def _check_asked(self, channel: bytes) -> None:
        if self._leaving[channel] > 0:
            self._leaving[channel] -= 1
            return
        self._pipes.invalidate()
        self._inbox.fail(redis_errors.ConnectionError("a subscribed slot moved to another node"))
        self._inbox.raise_if_gone()

    async def _by_owner(
        self,
        channels: Sequence[str],
        command: Callable[[Subscriber, Sequence[str]], Awaitable[None]],
    ) -> None:
        self._inbox.raise_if_gone()
        groups: dict[Endpoint, list[str]] = collections.defaultdict(list)
        for channel in channels:
            groups[await self._pipes.owner(channel)].append(channel)
        for owner, group in groups.items():
            await command(self._node(owner), group)

    def _node(self, endpoint: Endpoint) -> Subscriber:
        node = self._nodes.get(endpoint)
        if node is None:
            node = self._nodes[endpoint] = Subscriber(
                endpoint,
                timeout_s=self._timeout_s,
                connect_timeout_s=self._connect_timeout_s,
                inbox=self._inbox,
                sharded=True,
            )
        return node
