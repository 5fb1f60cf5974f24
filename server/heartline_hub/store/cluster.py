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
import functools
import itertools
import time
from collections.abc import Sequence
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.crc import key_slot

from ..metrics import REDIS_REDIRECTIONS, REDIS_SLOT_MAP_READS
from .address import Endpoint
from .multiplex import Multiplexed, NotReplicated
from .subscriber import Inbox, Push, Subscriber, SubscriptionRefused

__all__ = ["ClusterPipes", "ClusterSubscriber", "routing_key"]

log = structlog.get_logger(__name__)

SLOTS = 16_384
MAX_REDIRECTS = 8
TRYAGAIN_PAUSE_S = 0.02
REPAIR_DELAYS_S = (0.05, 0.1, 0.25, 0.5, 1.0)
"""Pauses before each try to subscribe a lost primary's channels again, the last repeated."""
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

        A command answered with a redirection is sent again on its own (it
        did not run where it was sent). The first failure is raised.
        """
        outcomes = await self.execute_each(commands)
        failure = next((item for item in outcomes if isinstance(item, Exception)), None)
        if failure is not None:
            self._notice(failure)
            raise failure
        return outcomes

    async def execute_each(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Like :meth:`execute_many`, but each command's failure is returned in its place."""
        outcomes = await self._each_by_owner(commands)
        for n, outcome in enumerate(outcomes):
            if isinstance(outcome, _REROUTED):
                try:
                    outcomes[n] = await self.execute(*commands[n])
                except redis_errors.RedisError as error:
                    outcomes[n] = error
        return outcomes

    async def execute_replicated(self, args: tuple[Any, ...], replicas: int, wait_ms: int) -> Any:
        [reply] = await self._on_owner(routing_key(args), [args], replicas, wait_ms)
        return reply

    async def ping(self) -> None:
        """Whether the cluster answers: a primary of the map does.

        One primary down (until its replica takes over) leaves the hub ready:
        the pairs of the other primaries are served, and a load balancer
        that took every hub out would stop them too.
        """
        await self._refresh_if_stale()
        failure: Exception = redis_errors.ConnectionError("no primary in the slot map")
        for primary in dict.fromkeys(owner for owner in self._owners if owner is not None):
            try:
                await self._connection(primary).ping()
            except _UNREACHABLE as error:
                failure = error
                self._stale = True
            else:
                return
        raise failure

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

    async def _on_owner(
        self, key: Any, commands: list[tuple[Any, ...]], replicas: int = 0, wait_ms: int = 0
    ) -> list[Any]:
        """Send ``commands`` together to the owner of ``key``'s slot, following redirections
        (and confirmed by ``replicas`` of its replicas, see ``Multiplexed``).

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
            connection = self._connection(target)
            try:
                if replicas:
                    replies = await connection.execute_many_replicated(batch, replicas, wait_ms)
                else:
                    replies = await connection.execute_many(batch)
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
            except NotReplicated:
                raise
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

    Each channel is subscribed on the primary of its slot. A primary's
    trouble costs only its own channels, so that one failing primary does
    not stop the live feed of the others' pairs (nor make the hub unready):

    - its connection is lost (it died, or stopped answering the idle PING);
    - it refuses a subscription (``MOVED``: the slot is elsewhere now);
    - it ends subscriptions nobody asked to end (``sunsubscribe``: the slot
      moved away).

    The channels concerned are subscribed again where the map, read anew,
    puts them, retrying until they are. Each new confirmation reaches the
    fan-out as a ``subscribe``, on which it catches the room up from the log
    (fanout.py): what was published meanwhile is late, not lost.
    """

    def __init__(self, pipes: ClusterPipes, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._pipes = pipes
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._inbox = Inbox()
        self._nodes: dict[Endpoint, Subscriber] = {}
        self._where: dict[str, Endpoint] = {}
        """Every channel wanted, and the primary it was last subscribed on."""
        self._orphans: set[str] = set()
        """Channels to subscribe again, where their slot is now."""
        self._leaving: collections.Counter[bytes] = collections.Counter()
        self._repairing: asyncio.Task[None] | None = None
        self._closed = False

    async def subscribe(self, channels: Sequence[str]) -> None:
        """Ask for ``channels`` on their primaries; a primary away gets them later."""
        groups: dict[Endpoint, list[str]] = collections.defaultdict(list)
        for channel in channels:
            groups[await self._pipes.owner(channel)].append(channel)
        for owner, group in groups.items():
            self._where.update(dict.fromkeys(group, owner))
            try:
                await self._node(owner).subscribe(group)
            except _UNREACHABLE:
                self._orphan(group)

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        for channel in channels:
            self._orphans.discard(channel)
            owner = self._where.pop(channel, None)
            node = None if owner is None else self._nodes.get(owner)
            if node is None:
                continue
            self._leaving[channel.encode()] += 1
            with contextlib.suppress(*_UNREACHABLE):
                await node.unsubscribe([channel])

    async def next_message(self, timeout: float) -> Push | None:
        push = await self._inbox.next(timeout)
        if push is None:
            for node in tuple(self._nodes.values()):
                node.ping_soon()
        elif push[0] == b"sunsubscribe" and not self._asked_to_leave(push[1]):
            self._orphan([push[1].decode()])
            return None
        return push

    def local_addresses(self) -> dict[Endpoint, str | None]:
        """Each primary's subscribed connection, by its address as that primary sees it."""
        return {endpoint: node.local_address for endpoint, node in self._nodes.items()}

    async def close(self) -> None:
        self._closed = True
        if self._repairing is not None:
            self._repairing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repairing
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.close()

    # Losing channels, and getting them back.

    def _asked_to_leave(self, channel: bytes) -> bool:
        if self._leaving[channel] <= 0:
            return False
        self._leaving[channel] -= 1
        return True

    def _failed(self, endpoint: Endpoint, error: Exception) -> None:
        """A node's subscriber failed: its channels (or a refused slot's) are orphans."""
        if self._closed:
            return
        if isinstance(error, SubscriptionRefused) and isinstance(
            error.answer, redis_errors.MovedError
        ):
            slot = error.answer.slot_id
            lost = [
                channel
                for channel, owner in self._where.items()
                if owner == endpoint and key_slot(channel.encode()) == slot
            ]
        else:
            self._nodes.pop(endpoint, None)
            lost = [channel for channel, owner in self._where.items() if owner == endpoint]
        log.warning("pubsub_node_failed", node=endpoint.name, error=str(error), channels=len(lost))
        self._orphan(lost)

    def _orphan(self, channels: Sequence[str]) -> None:
        self._orphans.update(channel for channel in channels if channel in self._where)
        self._pipes.invalidate()
        if self._orphans and (self._repairing is None or self._repairing.done()):
            self._repairing = asyncio.get_running_loop().create_task(self._repair())

    async def _repair(self) -> None:
        """Subscribe the orphans where the map puts them now, until every one is."""
        for delay in itertools.chain(REPAIR_DELAYS_S, itertools.repeat(REPAIR_DELAYS_S[-1])):
            await asyncio.sleep(delay)
            orphans = [channel for channel in self._orphans if channel in self._where]
            self._orphans.clear()
            try:
                await self.subscribe(orphans)
            except (redis_errors.RedisError, OSError) as error:
                log.warning("pubsub_repair_failed", error=str(error), channels=len(orphans))
                self._orphans.update(orphans)
            if not self._orphans:
                return

    def _node(self, endpoint: Endpoint) -> Subscriber:
        node = self._nodes.get(endpoint)
        if node is None:
            node = self._nodes[endpoint] = Subscriber(
                endpoint,
                timeout_s=self._timeout_s,
                connect_timeout_s=self._connect_timeout_s,
                inbox=self._inbox,
                sharded=True,
                on_failure=functools.partial(self._failed, endpoint),
            )
        return node
