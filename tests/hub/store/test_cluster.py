"""The hot path on a Redis Cluster (store/cluster.py), against the local Valkey Cluster.

Commands go to the primary of their key's slot, pub/sub is sharded, and a
write can wait for a replica's confirmation. Faults (a failover, a slot
migrating) are in tests/cluster, where a test may break its own cluster.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.crc import key_slot

from heartline_hub.auth import new_id
from heartline_hub.store import Appended, Duplicate, Store, StoreUnavailable, Subscription
from heartline_hub.store.address import parse_address
from heartline_hub.store.cluster import ClusterPipes, ClusterSubscriber, routing_key
from heartline_hub.store.keys import timer_shard_key
from heartline_hub.store.multiplex import NotReplicated
from heartline_hub.store.subscriber import Push
from heartline_protocol import CheckIn, encode
from tests.support.cluster import LocalCluster, owner_of_slot, slot_of

from .test_redis_store import Pair, device_of, now_ms


@pytest.fixture
async def pipes(cluster_url: str) -> AsyncIterator[ClusterPipes]:
    opened = ClusterPipes(parse_address(cluster_url).seeds, timeout_s=5.0, connect_timeout_s=2.0)
    yield opened
    await opened.close()


def keys_on_every_primary(cluster: LocalCluster, count: int = 30) -> list[str]:
    """``count`` random keys, as many on each primary (random hash tags, sorted out)."""
    per_primary = count // len(cluster.primaries)
    owned: dict[int, list[str]] = {node.port: [] for node in cluster.primaries}
    while any(len(keys) < per_primary for keys in owned.values()):
        key = f"hl:test:{{{secrets.token_hex(4)}}}"
        keys = owned[owner_port(cluster, key)]
        if len(keys) < per_primary:
            keys.append(key)
    return [key for keys in owned.values() for key in keys]


def owner_port(cluster: LocalCluster, key: str) -> int:
    """The port of the primary serving ``key``."""
    return owner_of_slot(cluster, slot_of(key)).port


def test_a_command_is_routed_by_its_key_or_its_scripts_first_key() -> None:
    assert routing_key(("HGET", "hl:{p:x}:state", "version")) == "hl:{p:x}:state"
    assert routing_key(("EVALSHA", "ab12", 2, "hl:{p:x}:state", "hl:{p:x}:log", 1)) == (
        "hl:{p:x}:state"
    )


async def test_commands_reach_the_primary_of_each_keys_slot(
    pipes: ClusterPipes, local_cluster: LocalCluster
) -> None:
    keys = keys_on_every_primary(local_cluster)
    for n, key in enumerate(keys):
        assert await pipes.execute("SET", key, n, "PX", 60_000) is not None

    for key in keys:
        port = owner_port(local_cluster, key)
        node = next(node for node in local_cluster.primaries if node.port == port)
        with node.client() as client:
            assert client.exists(key) == 1, "stored on the primary that owns the slot"


async def test_commands_to_many_primaries_at_once_keep_their_order(
    pipes: ClusterPipes, local_cluster: LocalCluster
) -> None:
    keys = keys_on_every_primary(local_cluster)
    await pipes.execute_many([("SET", key, f"v{n}", "PX", 60_000) for n, key in enumerate(keys)])

    replies = await pipes.execute_many([("GET", key) for key in keys])

    assert replies == [f"v{n}".encode() for n in range(len(keys))]


async def test_a_write_waits_for_its_replica_and_fails_when_it_asks_for_more(
    pipes: ClusterPipes,
) -> None:
    key = f"hl:test:{{{secrets.token_hex(4)}}}"
    assert await pipes.execute_replicated(("SET", key, "1", "PX", 60_000), 1, 1000) == b"OK"

    with pytest.raises(NotReplicated, match="1 of 2 replicas"):
        await pipes.execute_replicated(("SET", key, "2", "PX", 60_000), 2, 50)
    assert await pipes.execute("GET", key) == b"2", "the write was done, not confirmed"


async def test_sharded_pubsub_hears_channels_on_every_primary(
    pipes: ClusterPipes, local_cluster: LocalCluster
) -> None:
    channels = keys_on_every_primary(local_cluster, count=12)
    async with subscribed(pipes, channels) as subscriber:
        for channel in channels:
            await pipes.execute("SPUBLISH", channel, b"hello " + channel.encode())
        heard = [await next_push(subscriber) for _ in channels]
        assert {kind for kind, _, _ in heard} == {b"smessage"}
        assert sorted(payload for _, _, payload in heard) == sorted(
            b"hello " + channel.encode() for channel in channels
        )

        await subscriber.unsubscribe(channels[:1])
        left = await next_push(subscriber)
        assert left[:2] == (b"sunsubscribe", channels[0].encode()), "asked for: not a moved slot"


@asynccontextmanager
async def subscribed(pipes: ClusterPipes, channels: list[str]) -> AsyncIterator[ClusterSubscriber]:
    """A sharded subscription to ``channels``, each confirmed; closed after."""
    subscriber = ClusterSubscriber(pipes, timeout_s=5.0, connect_timeout_s=2.0)
    try:
        await subscriber.subscribe(channels)
        confirmed = [await next_push(subscriber) for _ in channels]
        assert sorted(channel for _, channel, _ in confirmed) == sorted(
            channel.encode() for channel in channels
        )
        yield subscriber
    finally:
        await subscriber.close()


async def next_push(subscriber: ClusterSubscriber) -> Push:
    for _ in range(20):
        push = await subscriber.next_message(timeout=0.25)
        if push is not None:
            return push
    raise AssertionError("no push within 5 s")


# The store with replica confirmation on.


@pytest.fixture
async def made_pair(cluster_url: str) -> AsyncIterator[tuple[str, Pair]]:
    store = Store.from_url(cluster_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    device, _ = device_of("m_A")
    made = Pair(new_id("p"), new_id("ep"), device, "invite")
    assert await store.create_pair(
        made.id, device, invite_hash=made.invite_hash, epoch=made.epoch, now=now_ms()
    )
    yield cluster_url, made
    await store.erase_pair(made.id)
    await store.close()


@asynccontextmanager
async def listening_store(
    url: str, pair: Pair, *, replicas: int, wait_ms: int
) -> AsyncIterator[tuple[Store, Subscription]]:
    """A store that waits for ``replicas``, and a subscription to the pair's channel."""
    store = Store.from_url(
        url,
        idempotency_ttl_ms=60_000,
        retention_ms=86_400_000,
        wait_replicas=replicas,
        wait_ms=wait_ms,
    )
    subscription = store.subscription()
    try:
        await subscription.subscribe([pair.id])
        assert (await until_message(subscription))[0] == "subscribe"
        yield store, subscription
    finally:
        await subscription.close()
        await store.close()


async def test_a_confirmed_signal_is_answered_then_published(
    made_pair: tuple[str, Pair],
) -> None:
    url, pair = made_pair
    async with listening_store(url, pair, replicas=1, wait_ms=1000) as (store, subscription):
        event = pair.event(now_ms(), CheckIn(note="kept twice"))

        assert await pair.append(store, event) == Appended(seq=1)

        published = await until_message(subscription)
        assert published == ("message", pair.id, b"e1:%d:%b" % (event.at, encode(event)))


async def test_an_unconfirmed_signal_is_unavailable_kept_and_not_published(
    made_pair: tuple[str, Pair],
) -> None:
    url, pair = made_pair
    request = pair.request(pair.event(now_ms(), CheckIn(note="one replica only")), idem_field="d:1")
    async with listening_store(url, pair, replicas=2, wait_ms=50) as (store, subscription):
        with pytest.raises(StoreUnavailable, match="1 of 2 replicas"):
            await store.append(pair.id, request)

        assert await subscription.next_message(timeout=0.3) is None, "not fanned out"
        assert [seq for seq, _ in await store.read_events(pair.id, 0, 10)] == [1]
        with pytest.raises(StoreUnavailable, match="1 of 2 replicas"):
            await store.append(pair.id, request)
    async with listening_store(url, pair, replicas=1, wait_ms=1000) as (confirmable, _):
        resent = await confirmable.append(pair.id, request)
        assert isinstance(resent, Duplicate), "once confirmable, a resend gets the stored event"


async def until_message(subscription: Subscription) -> tuple[str, str, bytes]:
    for _ in range(20):
        message = await subscription.next_message(timeout=0.25)
        if message is not None:
            return message
    raise AssertionError("nothing arrived within 5 s")


async def test_a_spaces_timers_are_confirmed_like_its_signal(made_pair: tuple[str, Pair]) -> None:
    url, pair = made_pair
    shard, due = 7, {f"{pair.id}|m_A|{now_ms()}|ended": now_ms() + 60_000}
    async with listening_store(url, pair, replicas=2, wait_ms=50) as (store, _):
        with pytest.raises(StoreUnavailable, match="1 of 2 replicas"):
            await store.schedule_timers(shard, due)
    async with listening_store(url, pair, replicas=1, wait_ms=1000) as (store, _):
        await store.schedule_timers(shard, due)
        await store.erase_timers(pair.id, shard)


def test_the_timer_shards_are_spread_over_every_primary(local_cluster: LocalCluster) -> None:
    """16 shards (the default), each a slot of its own: every primary claims some timers."""
    keys = [timer_shard_key(shard) for shard in range(16)]
    assert len({key_slot(key.encode()) for key in keys}) == 16
    assert {owner_port(local_cluster, key) for key in keys} == {
        node.port for node in local_cluster.primaries
    }


async def test_a_lost_primary_connection_costs_only_its_channels_which_come_back(
    pipes: ClusterPipes, local_cluster: LocalCluster
) -> None:
    channels = keys_on_every_primary(local_cluster, count=6)
    async with subscribed(pipes, channels) as subscriber:
        victim = local_cluster.primaries[0]
        cut = [ch for ch in channels if owner_port(local_cluster, ch) == victim.port]
        [address] = [a for e, a in subscriber.local_addresses().items() if e.port == victim.port]

        with victim.client() as client:
            assert client.client_kill_filter(_type="pubsub", addr=address) == 1

        again = [await next_push(subscriber) for _ in cut]
        assert sorted(channel for kind, channel, _ in again if kind == b"ssubscribe") == sorted(
            channel.encode() for channel in cut
        ), "subscribed again on their primary, the others untouched"
        for channel in channels:
            await pipes.execute("SPUBLISH", channel, b"after")
        heard = [await next_push(subscriber) for _ in channels]
        assert sorted(channel for _, channel, _ in heard) == sorted(c.encode() for c in channels)
