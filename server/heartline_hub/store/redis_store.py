"""The only module that talks to Redis (or Valkey).

Everything the hub keeps goes through :class:`Store`: pairs, devices and
tokens, the event log and the state, idempotency records, presence, timers
and live fan-out. Multi-key changes of a pair are Lua scripts from ``lua/``
beside this file; key names come from ``keys.py``. Redis failures surface as
:class:`StoreUnavailable`, so no other module needs to know redis-py.

What every signal and every connection needs (append, load, the pair's
timers, versions; the token, presence) goes over the pipelined connection of
``multiplex.py``; the rest over redis-py's pool.

On a Redis Cluster (a ``redis+cluster://`` URL, see ``address.py``) the same
code runs: the hot path on one pipelined connection per primary
(``cluster.py``), the rest on redis-py's cluster client, and live fan-out on
sharded pub/sub. The layout needs no change: each operation touches one
pair's keys, which share a slot.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ParamSpec, TypeVar

import msgpack
import redis.asyncio as redis
import structlog
from redis import exceptions as redis_errors
from redis.asyncio.cluster import ClusterNode

from heartline_protocol import Event, State, apply_event, decode_from_hub

from ..metrics import REDIS_LATENCY
from .address import Address, parse_address
from .cluster import ClusterPipes, ClusterSubscriber
from .keys import (
    HUBS,
    WEBHOOK_PAIRS,
    PairKeys,
    hub_alive_key,
    hub_pairs_key,
    hub_sweep_key,
    invite_key,
    join_attempts_key,
    stream_ticket_key,
    timer_shard_key,
    token_key,
)
from .multiplex import Multiplexed, Pipelined, Script
from .records import (
    Appended,
    AppendOutcome,
    ClaimedTimers,
    DeviceRecord,
    Duplicate,
    Gone,
    OnlineChange,
    PairSnapshot,
    Stale,
    TokenRecord,
    WebhookRecord,
)
from .state_packer import StatePacker
from .subscriber import Subscriber

__all__ = [
    "AppendRequest",
    "Connection",
    "Store",
    "StoreUnavailable",
    "Subscription",
    "TimersAhead",
]

log = structlog.get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

POOL_CONNECTIONS = 256
POOL_WAIT_S = 5.0
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
STATE_WRITTEN_EVERY = 8
"""An append writes the pair's whole state once in this many events; the others write
only the event, and a load folds the few events logged since the state it finds
(``base`` at ``base_v``). The state was three fifths of what every signal wrote to Valkey and
its append-only file, whose rewrites set the tail at 4,000 signals/s
(BENCHMARKS.md, ninth slice); the log is the record either way."""
_KINDS = {b"message": "message", b"subscribe": "subscribe", b"smessage": "message",
          b"ssubscribe": "subscribe"}  # fmt: skip
_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class StoreUnavailable(Exception):
    """Redis cannot be reached or did not answer: retry later (``unavailable``)."""


def _translating_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Time the operation, and turn Redis being away into :class:`StoreUnavailable`."""
    latency = REDIS_LATENCY.labels(method.__name__)

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error
        finally:
            latency.observe(time.perf_counter() - started)

    return wrapper


def _unavailable(error: Exception) -> StoreUnavailable:
    if isinstance(error, redis_errors.BusyLoadingError):
        return StoreUnavailable("the database is loading")
    return StoreUnavailable(str(error) or type(error).__name__)


def _server_client(url: str) -> redis.Redis:
    """redis-py's client of one server, for everything off the hot path.

    Its pool waits for a free connection under bursts: redis-py's default
    pool raises at once when its connections are all busy, and the hub
    would then answer ``unavailable`` while Redis is fine.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_CONNECTIONS,
        timeout=POOL_WAIT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=15,
    )
    return redis.Redis.from_pool(pool)


def _cluster_client(address: Address) -> redis.RedisCluster:
    """redis-py's cluster client, for everything off the hot path; it follows
    redirections and failovers on its own."""
    seed = address.seeds[0]
    return redis.RedisCluster(
        startup_nodes=[ClusterNode(node.host, node.port) for node in address.seeds],
        username=seed.username,
        password=seed.password,
        ssl=seed.tls,
        max_connections=POOL_CONNECTIONS,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )


def _script(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


def _field(flat: list[bytes], name: bytes) -> bytes:
    """A field's value in a stream entry's flat ``[field, value, ...]`` list."""
    return flat[flat.index(name) + 1]


def _fold_logged(state: State, logged: list[list[Any]]) -> State:
    """The stored state brought up to date with the events logged after it.

    It stops at a gap in the log, so the caller sees a state behind the version.
    """
    for _, fields in logged:
        event = decode_from_hub(_field(fields, b"e"))
        if not isinstance(event, Event):
            raise redis_errors.DataError("a log entry holds no event frame")
        if event.seq != state.version + 1:
            break
        state = apply_event(state, event)
    return state


def pack_state(state: State) -> bytes:
    return msgpack.packb(state.to_map(), use_bin_type=True)  # type: ignore[no-any-return]


def unpack_state(data: bytes) -> State:
    return State.from_map(msgpack.unpackb(data, raw=False))


@dataclass(frozen=True, slots=True)
class Connection:
    """One open connection of a device, as the online hash records it."""

    member: str
    device: str
    id: str
    hub: str

    @property
    def field(self) -> str:
        return f"{self.member}:{self.device}:{self.id}"


class AppendRequest:
    """One event to store, with the version it was folded on."""

    __slots__ = (
        "expected_online_rev",
        "expected_version",
        "extra_fields",
        "frame",
        "idem_digest",
        "idem_field",
        "listening",
        "state",
        "time",
    )

    def __init__(
        self,
        *,
        expected_version: int,
        frame: bytes,
        time: int,
        state: State | None,
        idem_field: str | None = None,
        idem_digest: str = "",
        expected_online_rev: int | None = None,
        extra_fields: Sequence[tuple[str, str]] = (),
        listening: bool = False,
    ) -> None:
        self.expected_version = expected_version
        self.frame = frame
        self.time = time
        self.state = state
        """The state after the event, to write whole; None: only the event is written."""
        self.idem_field = idem_field
        self.idem_digest = idem_digest
        """32 characters that tell a resend asking for the same from a reuse of its id."""
        self.expected_online_rev = expected_online_rev
        self.extra_fields = extra_fields
        self.listening = listening
        """This hub listens on the pair's channel until the append is answered: the
        script may then skip its publish, if no other hub listens (fanout.py)."""


class Store:
    """Redis access for one hub process; safe to share between tasks."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        hot: Pipelined,
        address: Address,
        *,
        idempotency_ttl_ms: int,
        retention_ms: int,
        wait_replicas: int = 0,
        wait_ms: int = 0,
    ) -> None:
        # redis-py types every reply as bytes | str; this class is the typed boundary.
        self._redis: Any = client
        self._hot = hot
        self._packer = StatePacker()
        self._address = address
        self._idempotency_ttl_ms = idempotency_ttl_ms
        self._retention_ms = retention_ms
        self._wait_replicas = wait_replicas
        self._wait_ms = wait_ms
        self._publish = "SPUBLISH" if address.cluster else "PUBLISH"
        self._append = Script(_script("append"))
        self._load = Script(_script("load"))
        self._create_pair = client.register_script(_script("create_pair"))
        self._join_pair = client.register_script(_script("join_pair"))
        self._set_online = Script(_script("set_online"))
        self._claim_timers = Script(_script("claim_timers"))
        self._clear_hub = client.register_script(_script("clear_hub"))
        self._lease = client.register_script(_script("lease"))
        self._webhook_cursor = client.register_script(_script("webhook_cursor"))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        idempotency_ttl_ms: int,
        retention_ms: int,
        wait_replicas: int = 0,
        wait_ms: int = 0,
    ) -> Store:
        """The hot path's pipelined connection(s), and a redis-py client for the rest.

        ``wait_replicas``: a signal is answered only once that many replicas
        confirmed it (``WAIT``, up to ``wait_ms``), so that a failover cannot
        lose an acknowledged signal.
        """
        address = parse_address(url)
        hot: Pipelined
        if address.cluster:
            client: redis.Redis | redis.RedisCluster = _cluster_client(address)
            hot = ClusterPipes(
                address.seeds, timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=CONNECT_TIMEOUT_S
            )
        else:
            client = _server_client(url)
            hot = Multiplexed(
                address.server, timeout_s=SOCKET_TIMEOUT_S, connect_timeout_s=CONNECT_TIMEOUT_S
            )
        return cls(
            client,
            hot,
            address,
            idempotency_ttl_ms=idempotency_ttl_ms,
            retention_ms=retention_ms,
            wait_replicas=wait_replicas,
            wait_ms=wait_ms,
        )

    async def close(self) -> None:
        await self._hot.close()
        await self._redis.aclose()

    @_translating_errors
    async def ping(self) -> None:
        await self._hot.ping()

    # Tokens, invites, pairs and devices.

    @_translating_errors
    async def token(self, token_hash: str) -> TokenRecord | None:
        data = await self._hot.execute("GET", token_key(token_hash))
        return None if data is None else TokenRecord.unpack(data)

    @_translating_errors
    async def save_token(self, token_hash: str, record: TokenRecord) -> None:
        await self._redis.set(token_key(token_hash), record.pack())

    @_translating_errors
    async def save_stream_ticket(self, ticket_hash: str, token_hash: str, ttl_s: int) -> None:
        await self._redis.set(stream_ticket_key(ticket_hash), token_hash, ex=ttl_s)

    @_translating_errors
    async def redeem_stream_ticket(self, ticket_hash: str) -> TokenRecord | None:
        """Who a ticket's token speaks for, once: the ticket is gone after this call."""
        token_hash = await self._redis.getdel(stream_ticket_key(ticket_hash))
        return None if token_hash is None else await self.token(token_hash.decode())

    @_translating_errors
    async def save_invite(self, code_hash: str, pair_id: str, ttl_s: int) -> None:
        await self._redis.set(invite_key(code_hash), pair_id, ex=ttl_s)

    @_translating_errors
    async def replace_invite(self, pair_id: str, code_hash: str, ttl_s: int) -> None:
        """A new invite for the pair; the previous one stops working."""
        keys = PairKeys(pair_id)
        previous = await self._redis.hget(keys.pair, "invite")
        if previous is not None:
            await self._redis.delete(invite_key(previous.decode()))
        await self._redis.hset(keys.pair, "invite", code_hash)
        await self._redis.set(invite_key(code_hash), pair_id, ex=ttl_s)

    @_translating_errors
    async def redeem_invite(self, code_hash: str) -> str | None:
        """The invite's pair, consuming the invite: a code works once."""
        pair_id = await self._redis.getdel(invite_key(code_hash))
        return None if pair_id is None else pair_id.decode()

    @_translating_errors
    async def failed_joins(self, client: str) -> int:
        """Wrong invite codes from ``client`` in the current window."""
        count = await self._redis.get(join_attempts_key(client))
        return 0 if count is None else int(count)

    @_translating_errors
    async def count_failed_join(self, client: str, window_s: int) -> None:
        key = join_attempts_key(client)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            await pipe.execute()

    @_translating_errors
    async def create_pair(
        self, pair_id: str, device: DeviceRecord, *, invite_hash: str, epoch: str, now: int
    ) -> bool:
        keys = PairKeys(pair_id)
        created = await self._create_pair(
            keys=[keys.pair, keys.devices, keys.state],
            args=[now, device.member, device.id, device.pack(), invite_hash, epoch,
                  pack_state(State(version=0))],
        )  # fmt: skip
        return bool(created)

    @_translating_errors
    async def join_pair(
        self, pair_id: str, device: DeviceRecord, *, invite_hash: str, now: int
    ) -> int:
        """1 joined, 0 the pair is gone or full, -1 the invite is not the pair's."""
        keys = PairKeys(pair_id)
        result = await self._join_pair(
            keys=[keys.pair, keys.devices],
            args=[now, device.member, device.id, device.pack(), invite_hash],
        )
        return int(result)

    @_translating_errors
    async def members(self, pair_id: str) -> list[str]:
        """The pair's members in the order they joined."""
        fields = await self._redis.hgetall(PairKeys(pair_id).pair)
        joined = [
            (int(value), name.decode().removeprefix("member:"))
            for name, value in fields.items()
            if name.startswith(b"member:")
        ]
        return [member for _, member in sorted(joined)]

    @_translating_errors
    async def devices(self, pair_id: str) -> list[DeviceRecord]:
        records = await self._redis.hgetall(PairKeys(pair_id).devices)
        devices = [DeviceRecord.unpack(key.decode(), value) for key, value in records.items()]
        return sorted(devices, key=lambda device: (device.created, device.id))

    @_translating_errors
    async def add_device(self, pair_id: str, device: DeviceRecord) -> None:
        await self._redis.hset(PairKeys(pair_id).devices, device.id, device.pack())

    @_translating_errors
    async def remove_device(self, pair_id: str, device_id: str) -> DeviceRecord | None:
        """Forget a device and its token; its live sessions are told by :meth:`publish_control`."""
        keys = PairKeys(pair_id)
        data = await self._redis.hget(keys.devices, device_id)
        if data is None:
            return None
        device = DeviceRecord.unpack(device_id, data)
        await self._redis.delete(token_key(device.token_hash))
        await self._redis.hdel(keys.devices, device_id)
        return device

    @_translating_errors
    async def erase_pair(self, pair_id: str) -> None:
        """Unpair: tokens first (nothing authenticates any more), then every key.

        The webhooks' leases go with the rest; a hub still delivering cannot
        take one again (lease.lua needs the webhook's record).
        """
        keys = PairKeys(pair_id)
        devices = await self.devices(pair_id)
        invite = await self._redis.hget(keys.pair, "invite")
        doomed = [token_key(device.token_hash) for device in devices]
        if invite is not None:
            doomed.append(invite_key(invite.decode()))
        for key in doomed:
            await self._redis.delete(key)
        leases = [keys.webhook_lease(webhook.id) for webhook, _ in await self.webhooks(pair_id)]
        await self._redis.delete(*keys.all(), *leases)
        await self._redis.srem(WEBHOOK_PAIRS, pair_id)

    # Webhooks: records and delivery cursors in the pair's hash, one deliverer at a time.

    @_translating_errors
    async def add_webhook(self, pair_id: str, record: WebhookRecord, cursor: int) -> None:
        """Register ``record``; it is sent the events after ``cursor``."""
        await self._redis.hset(
            PairKeys(pair_id).webhooks,
            mapping={_webhook_record(record.id): record.pack(), f"c:{record.id}": cursor},
        )
        await self._redis.sadd(WEBHOOK_PAIRS, pair_id)

    @_translating_errors
    async def save_webhook(self, pair_id: str, record: WebhookRecord) -> None:
        await self._redis.hset(
            PairKeys(pair_id).webhooks, _webhook_record(record.id), record.pack()
        )

    @_translating_errors
    async def webhooks(self, pair_id: str) -> list[tuple[WebhookRecord, int]]:
        """The pair's webhooks, each with the last seq delivered to it."""
        fields = await self._redis.hgetall(PairKeys(pair_id).webhooks)
        return [
            (WebhookRecord.unpack(name[2:].decode(), data), int(fields.get(b"c:" + name[2:], 0)))
            for name, data in fields.items()
            if name.startswith(b"r:")
        ]

    @_translating_errors
    async def remove_webhook(self, pair_id: str, webhook_id: str) -> bool:
        keys = PairKeys(pair_id)
        removed = await self._redis.hdel(
            keys.webhooks, _webhook_record(webhook_id), f"c:{webhook_id}"
        )
        await self._redis.delete(keys.webhook_lease(webhook_id))
        if removed and not any(
            name.startswith(b"r:") for name in await self._redis.hkeys(keys.webhooks)
        ):
            await self._redis.srem(WEBHOOK_PAIRS, pair_id)
        return bool(removed)

    @_translating_errors
    async def webhook_delivered(self, pair_id: str, webhook_id: str, seq: int) -> None:
        """Move the webhook's cursor to ``seq``; nothing once the webhook or its pair is gone."""
        await self._webhook_cursor(
            keys=[PairKeys(pair_id).webhooks],
            args=[_webhook_record(webhook_id), f"c:{webhook_id}", seq],
        )

    @_translating_errors
    async def webhook_pairs(self) -> list[str]:
        return sorted(pair.decode() for pair in await self._hot.execute("SMEMBERS", WEBHOOK_PAIRS))

    @_translating_errors
    async def lease_webhook(self, pair_id: str, webhook_id: str, hub_id: str, ttl_ms: int) -> bool:
        """Take or renew the right to deliver to a webhook: one hub at a time."""
        keys = PairKeys(pair_id)
        record = _webhook_record(webhook_id)
        return bool(
            await self._lease(
                keys=[keys.webhook_lease(webhook_id), keys.webhooks],
                args=[hub_id, ttl_ms, "take", record],
            )
        )

    @_translating_errors
    async def release_webhook(self, pair_id: str, webhook_id: str, hub_id: str) -> None:
        keys = PairKeys(pair_id)
        await self._lease(
            keys=[keys.webhook_lease(webhook_id), keys.webhooks],
            args=[hub_id, 0, "release", _webhook_record(webhook_id)],
        )

    @_translating_errors
    async def erase_timers(self, pair_id: str, shard: int) -> None:
        """Remove the pair's pending timers (their names hold its ids and times)."""
        shard_key = timer_shard_key(shard)
        names = [name async for name, _ in self._redis.zscan_iter(shard_key, match=f"{pair_id}|*")]
        if names:
            await self._redis.zrem(shard_key, *names)

    # The log and the state.

    @_translating_errors
    async def load(self, pair_id: str) -> PairSnapshot | None:
        keys = PairKeys(pair_id)
        flat, logged = await self._load(self._hot, keys=[keys.state, keys.log], args=[])
        if not flat:
            return None
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        version = int(fields[b"version"])
        whole = fields.get(b"state")
        if whole is not None:
            state, state_version = unpack_state(whole), version
        else:
            state_version = int(fields[b"base_v"])
            state = _fold_logged(unpack_state(fields[b"base"]), logged)
        if state.version != version:
            raise redis_errors.DataError(
                f"pair {pair_id}: its log does not reach version {version} from its state's "
                f"{state_version} without a gap (trimmed by hand?)"
            )
        marks = {name.decode(): int(value) for name, value in fields.items() if b":" in name}
        return PairSnapshot(
            version=version,
            epoch=fields[b"epoch"].decode(),
            first_seq=int(fields.get(b"first_seq", b"1")),
            state=state,
            state_version=state_version,
            online_rev=int(fields.get(b"online_rev", b"0")),
            marks=marks,
        )

    @_translating_errors
    async def versions(self, pair_ids: Sequence[str]) -> list[int]:
        """The current version of each pair (0 for a pair that is gone), in one round trip."""
        replies = await self._hot.execute_many(
            [("HGET", PairKeys(pair).state, "version") for pair in pair_ids]
        )
        return [0 if reply is None else int(reply) for reply in replies]

    @_translating_errors
    async def append(self, pair_id: str, request: AppendRequest) -> AppendOutcome:
        keys = PairKeys(pair_id)
        online_rev = request.expected_online_rev
        extra = [item for pair in request.extra_fields for item in pair]
        durable = self._wait_replicas > 0
        reply = await self._append(
            self._hot,
            keys=[keys.state, keys.log, keys.idem, keys.idem_expiry],
            replicas=self._wait_replicas,
            wait_ms=self._wait_ms,
            args=[
                request.expected_version,
                "" if online_rev is None else online_rev,
                request.frame,
                request.time,
                "" if request.state is None else self._packer.pack(pair_id, request.state),
                request.idem_field or "",
                self._idempotency_record(request),
                request.time + self._idempotency_ttl_ms,
                keys.channel,
                "" if durable else self._publish,
                request.time - self._retention_ms,
                request.time,
                "1" if request.listening and not durable and not self._address.cluster else "0",
                *extra,
            ],
        )
        outcome = _append_outcome(reply)
        if durable and isinstance(outcome, Appended):
            await self._publish_event(keys, outcome.seq, request.time, request.frame)
            return Appended(outcome.seq)
        return outcome

    def _idempotency_record(self, request: AppendRequest) -> bytes:
        """The digest, then the event by its seq while history outlives the record (the
        script reads the frame from the log when asked again), else the frame itself."""
        if request.idem_field is None:
            return b""
        digest = request.idem_digest.encode()
        if self._retention_ms >= self._idempotency_ttl_ms:
            return b"%s#%d" % (digest, request.expected_version + 1)
        return digest + request.frame

    @property
    def confirms_writes(self) -> bool:
        """Whether signals wait for replicas (and are published by the hub, not the script)."""
        return self._wait_replicas > 0

    @_translating_errors
    async def publish_event(self, pair_id: str, seq: int, at: int, frame: bytes) -> None:
        """Publish a stored event (again) for live fan-out; receivers drop repeats by seq."""
        await self._publish_event(PairKeys(pair_id), seq, at, frame)

    async def _publish_event(self, keys: PairKeys, seq: int, at: int, frame: bytes) -> None:
        """Publish an event once replicas confirmed it: no hub forwards an event a
        failover could still take back (what append.lua publishes otherwise)."""
        message = b"e%d:%d:%s" % (seq, at, frame)
        await self._hot.execute(self._publish, keys.channel, message)

    @_translating_errors
    async def read_events(self, pair_id: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored event frames after ``after``, in order."""
        entries = await self._hot.execute(
            "XRANGE", PairKeys(pair_id).log, f"{after + 1}-0", "+", "COUNT", limit
        )
        return [(int(entry.split(b"-")[0]), _field(fields, b"e")) for entry, fields in entries]

    # Presence.

    @_translating_errors
    async def set_online(self, pair_id: str, connection: Connection) -> OnlineChange | None:
        """Mark a connection online; what the pair looked like then (None: the pair is gone)."""
        return await self._change_online(pair_id, connection, "set")

    @_translating_errors
    async def clear_online(self, pair_id: str, connection: Connection) -> OnlineChange | None:
        """Unmark a connection; what the pair looked like then (None: the pair is gone)."""
        return await self._change_online(pair_id, connection, "clear")

    async def _change_online(
        self, pair_id: str, connection: Connection, mode: str
    ) -> OnlineChange | None:
        keys = PairKeys(pair_id)
        reply = await self._set_online(
            self._hot,
            keys=[keys.online, keys.state],
            args=[connection.field, connection.hub, mode, connection.member],
        )
        if not reply:
            return None
        online_rev, version, member_online = reply
        return OnlineChange(int(online_rev), int(version), member_online == 1)

    @_translating_errors
    async def online_members(self, pair_id: str) -> set[str]:
        """Members with at least one device connected to some hub."""
        fields = await self._hot.execute("HKEYS", PairKeys(pair_id).online)
        return {name.decode().partition(":")[0] for name in fields}

    # Hubs: who is alive, and cleaning up after one that died.

    @_translating_errors
    async def keep_hub_alive(self, hub_id: str, ttl_ms: int) -> bool:
        """Renew the hub's alive key; whether it was still there.

        ``False`` on a hub's first renewal, and when the key lapsed: the hub
        could not renew it in time (a Redis failover, a frozen process) and
        may have been swept as dead by another hub.
        """
        previous, _ = await self._hot.execute_many(
            [("SET", hub_alive_key(hub_id), 1, "PX", ttl_ms, "GET"), ("SADD", HUBS, hub_id)]
        )
        return previous is not None

    @_translating_errors
    async def hub_alive(self, hub_id: str) -> bool:
        return bool(await self._hot.execute("EXISTS", hub_alive_key(hub_id)))

    @_translating_errors
    async def dead_hubs(self) -> list[str]:
        """Hubs that announced themselves and stopped renewing their alive key."""
        hubs = sorted(member.decode() for member in await self._hot.execute("SMEMBERS", HUBS))
        if not hubs:
            return []
        alive = await self._hot.execute_many([("EXISTS", hub_alive_key(hub)) for hub in hubs])
        return [hub for hub, exists in zip(hubs, alive, strict=True) if not exists]

    @_translating_errors
    async def claim_sweep(self, hub_id: str, ttl_ms: int) -> bool:
        """Whether this caller cleans up after ``hub_id`` (one hub does, the others skip)."""
        return bool(await self._redis.set(hub_sweep_key(hub_id), 1, nx=True, px=ttl_ms))

    @_translating_errors
    async def sweeping(self, hub_id: str) -> bool:
        """Whether some hub is cleaning up after ``hub_id`` (claimed and not finished)."""
        return bool(await self._redis.exists(hub_sweep_key(hub_id)))

    @_translating_errors
    async def release_sweep(self, hub_id: str) -> None:
        await self._redis.delete(hub_sweep_key(hub_id))

    @_translating_errors
    async def track_hub_pair(self, hub_id: str, pair_id: str, *, present: bool) -> None:
        await self._hot.execute("SADD" if present else "SREM", hub_pairs_key(hub_id), pair_id)

    @_translating_errors
    async def hub_pairs(self, hub_id: str) -> list[str]:
        return sorted(pair.decode() for pair in await self._redis.smembers(hub_pairs_key(hub_id)))

    @_translating_errors
    async def clear_hub_online(self, pair_id: str, hub_id: str) -> list[str]:
        """Unmark the dead hub's devices in the pair; the members concerned."""
        keys = PairKeys(pair_id)
        members = await self._clear_hub(keys=[keys.online, keys.state], args=[hub_id])
        return [member.decode() for member in members]

    @_translating_errors
    async def forget_hub(self, hub_id: str) -> None:
        await self._redis.delete(hub_pairs_key(hub_id), hub_sweep_key(hub_id))
        await self._redis.srem(HUBS, hub_id)

    # Timers.

    @_translating_errors
    async def schedule_timers(self, shard: int, due: dict[str, int]) -> None:
        """Add timers (name -> due time, ms) to one shard, in one call.

        With replica confirmation on, they are confirmed like the signal that
        sets them: they live on another slot, so a failover of their primary
        must not take back a space's end once its ``need_space`` was answered.
        """
        command = _timers_command(shard, due)
        if self._wait_replicas:
            await self._hot.execute_replicated(command, self._wait_replicas, self._wait_ms)
        else:
            await self._hot.execute(*command)

    def schedule_timers_ahead(self, shard: int, due: dict[str, int]) -> TimersAhead | None:
        """Queue the timers' write now, so that it shares a round trip with the next write.

        Only where one connection carries every write, so that Redis runs
        them in the order sent: one server, without replica confirmation.
        None elsewhere (a cluster, where the timers' slot may live on another
        primary; ``WAIT``; a connection not open yet): then await
        :meth:`schedule_timers` before the write that needs them.
        """
        if self._wait_replicas or not isinstance(self._hot, Multiplexed):
            return None
        reply = self._hot.send_now(*_timers_command(shard, due))
        return None if reply is None else TimersAhead(reply)

    @_translating_errors
    async def cancel_timers(self, shard: int, *names: str) -> None:
        await self._hot.execute("ZREM", timer_shard_key(shard), *names)

    def cancel_timers_unawaited(self, shard: int, *names: str) -> bool:
        """Queue the timers' removal without waiting for it; False if it could not be
        queued (a cluster, or no open connection: then await :meth:`cancel_timers`).

        For a removal whose failure is harmless (a timer left fires as a no-op):
        the caller's task does not wake again for its reply, and a failure is
        only logged.
        """
        if not isinstance(self._hot, Multiplexed):
            return False
        reply = self._hot.send_now("ZREM", timer_shard_key(shard), *names)
        if reply is None:
            return False
        reply.add_done_callback(_log_cancel_failure)
        return True

    @_translating_errors
    async def claim_timers(self, shard: int, now: int, lease_end: int, limit: int) -> list[str]:
        claimed, _ = await self._claim_timers(
            self._hot, keys=[timer_shard_key(shard)], args=[now, lease_end, limit]
        )
        return [member.decode() for member in claimed]

    @_translating_errors
    async def claim_timers_of(
        self, shards: Sequence[int], now: int, lease_end: int, limit: int
    ) -> ClaimedTimers:
        """:meth:`claim_timers` for each shard, in one round trip (on a cluster, one per
        primary): the claimed timers of each shard, in the order of ``shards``, and
        when the next timer left in any of them is due."""
        calls = [([timer_shard_key(shard)], [now, lease_end, limit]) for shard in shards]
        replies = await self._claim_timers.many(self._hot, calls)
        nexts = [int(next_due) for _, next_due in replies if int(next_due) >= 0]
        return ClaimedTimers(
            [[member.decode() for member in claimed] for claimed, _ in replies],
            min(nexts, default=None),
        )

    # Live fan-out.

    @_translating_errors
    async def publish_control(self, pair_id: str, message: bytes) -> None:
        await self._hot.execute(self._publish, PairKeys(pair_id).channel, message)

    def subscription(self) -> Subscription:
        timeout_s, connect_timeout_s = SOCKET_TIMEOUT_S, CONNECT_TIMEOUT_S
        if isinstance(self._hot, ClusterPipes):
            return Subscription(
                ClusterSubscriber(
                    self._hot, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s
                )
            )
        return Subscription(
            Subscriber(
                self._address.server, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s
            )
        )


class Subscription:
    """The hub's one pub/sub connection: pair channels in, messages out."""

    def __init__(self, subscriber: Subscriber | ClusterSubscriber) -> None:
        self._subscriber = subscriber

    @_translating_errors
    async def subscribe(self, pair_ids: Sequence[str]) -> None:
        await self._subscriber.subscribe([PairKeys(pair).channel for pair in pair_ids])

    @_translating_errors
    async def unsubscribe(self, pair_id: str) -> None:
        await self._subscriber.unsubscribe([PairKeys(pair_id).channel])

    async def next_message(self, timeout: float) -> tuple[str, str, bytes] | None:
        """The next ``(kind, pair id, payload)``, or None when nothing came in ``timeout``.

        ``kind`` is ``message``, or ``subscribe`` when a subscription is
        confirmed: from then on, every message published on it arrives.
        Not timed like the other operations: its time is the wait for a message.
        """
        try:
            push = await self._subscriber.next_message(timeout)
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error
        if push is None:
            return None
        kind, channel, payload = push
        if kind not in _KINDS:
            return None
        start = channel.index(b"{p:") + 3
        pair_id = channel[start : channel.index(b"}", start)].decode()
        return _KINDS[kind], pair_id, payload

    async def close(self) -> None:
        await self._subscriber.close()


def _webhook_record(webhook_id: str) -> str:
    """The field of the pair's ``webhooks`` hash holding a webhook's record."""
    return f"r:{webhook_id}"


def _timers_command(shard: int, due: dict[str, int]) -> tuple[Any, ...]:
    scored = [item for name, due_ms in due.items() for item in (due_ms, name)]
    return ("ZADD", timer_shard_key(shard), *scored)


class TimersAhead:
    """Timers queued by :meth:`Store.schedule_timers_ahead`, their reply still to come."""

    def __init__(self, reply: asyncio.Future[Any]) -> None:
        self._reply = reply

    @_translating_errors
    async def written(self) -> None:
        """Once the reply is in: raises :class:`StoreUnavailable` if they were not written."""
        await self._reply

    def abandon(self) -> None:
        """The write that needed them failed: their outcome no longer matters."""
        if self._reply.done():
            self._reply.exception()
        else:
            self._reply.add_done_callback(_retrieve)


def _log_cancel_failure(reply: asyncio.Future[Any]) -> None:
    error = None if reply.cancelled() else reply.exception()
    if error is not None:
        log.warning("timer_cancel_failed", error=str(error))


def _retrieve(reply: asyncio.Future[Any]) -> None:
    if not reply.cancelled():
        reply.exception()


def _append_outcome(reply: list[Any]) -> AppendOutcome:
    kind = reply[0].decode()
    if kind == "ok":
        return Appended(seq=int(reply[1]), published=reply[2] == 1)
    if kind == "dup":
        return Duplicate(record=reply[1])
    if kind == "stale":
        return Stale()
    return Gone()
