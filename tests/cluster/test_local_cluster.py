"""The local cluster the scale-out tests run on is a real, healthy Valkey Cluster."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio.cluster as redis_cluster
from redis.cluster import RedisCluster

from tests.support.cluster import (
    SLOTS,
    LocalCluster,
    Node,
    fail_primary,
    migrate_slot,
    owner_of_slot,
    slot_of,
    valkey_cluster,
)


async def test_every_slot_is_served_and_every_primary_has_a_replica_in_sync(
    local_cluster: LocalCluster,
) -> None:
    with local_cluster.primaries[0].client() as client:
        shards = client.execute_command("CLUSTER", "SHARDS")
    served = 0
    for shard in shards:
        ranges = shard["slots"]
        pairs = zip(ranges[::2], ranges[1::2], strict=True)
        served += sum(int(end) - int(start) + 1 for start, end in pairs)
        assert sorted(node["role"] for node in shard["nodes"]) == ["master", "replica"]
    assert served == SLOTS
    assert len(shards) == 3


async def test_keys_of_many_pairs_land_on_every_primary_and_read_back(
    local_cluster: LocalCluster,
) -> None:
    client = redis_cluster.RedisCluster.from_url(local_cluster.url)
    try:
        keys = [f"hl:{{p:test-{n}}}:state" for n in range(60)]
        for n, key in enumerate(keys):
            await client.set(key, n)
        assert [await client.get(key) for key in keys] == [str(n).encode() for n in range(60)]
        owners = {getattr(client.get_node_from_key(key), "port", None) for key in keys}
        assert owners == {node.port for node in local_cluster.primaries}
        await client.delete(*keys[:1])
    finally:
        await client.aclose()


def test_a_cluster_comes_up_in_under_a_minute() -> None:
    started = time.monotonic()
    with valkey_cluster() as cluster:
        assert len(cluster.nodes) == 6
    assert time.monotonic() - started < 60


def test_failing_a_primary_promotes_its_replica_which_serves_the_replicated_keys() -> None:
    with valkey_cluster() as cluster:
        doomed, its_replica = cluster.primaries[0], cluster.replicas[0]
        tag = _hash_tag_served_by(cluster, doomed)
        keys = [f"hl:{tag}:failover-{n}" for n in range(10)]
        with doomed.client() as client:
            writes = client.pipeline(transaction=False)
            for n, key in enumerate(keys):
                writes.set(key, n)
            writes.execute_command("WAIT", 1, 1000)
            *_, replicated_to = writes.execute()
        assert replicated_to == 1

        promoted = fail_primary(cluster, doomed)

        assert promoted is its_replica
        assert cluster.primaries[0] is promoted
        assert cluster.dead == [doomed]
        assert promoted not in cluster.replicas
        assert not doomed.server.is_running()
        with RedisCluster.from_url(cluster.url, decode_responses=True) as client:
            assert [client.get(key) for key in keys] == [str(n) for n in range(10)]


def test_migrating_a_slot_under_writes_moves_every_key_and_loses_no_write() -> None:
    with valkey_cluster() as cluster:
        tag = "{hl:migrating}"
        slot = slot_of(tag)
        source = owner_of_slot(cluster, slot)
        target = next(node for node in cluster.primaries if node is not source)
        seeded = [f"{tag}:seed-{n}" for n in range(20)]
        with RedisCluster.from_url(cluster.url, decode_responses=True) as client:
            for n, key in enumerate(seeded):
                client.set(key, n)
        writing, stop = threading.Event(), threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            writer = pool.submit(_write_until, stop, writing, cluster.url, tag)
            assert writing.wait(timeout=10)
            migrate_slot(cluster, slot, target, batch=2, pause_s=0.05)
            stop.set()
            written = writer.result(timeout=10)

        assert owner_of_slot(cluster, slot) is target
        with source.client() as client:
            assert client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        with target.client() as client:
            assert client.info("commandstats")["cmdstat_asking"]["calls"] > 0
        with RedisCluster.from_url(cluster.url, decode_responses=True) as client:
            assert [client.get(key) for key in seeded] == [str(n) for n in range(20)]
            news = [client.get(f"{tag}:written-{n}") for n in range(written)]
            assert news == [str(n) for n in range(written)]
            assert client.get(f"{tag}:count") == str(written)


def _hash_tag_served_by(cluster: LocalCluster, primary: Node) -> str:
    """A hash tag whose keys all land on ``primary``."""
    for n in itertools.count():
        tag = f"{{{n}}}"
        if owner_of_slot(cluster, slot_of(tag)) is primary:
            return tag
    raise AssertionError("unreachable: itertools.count() never ends")


def _write_until(stop: threading.Event, writing: threading.Event, url: str, tag: str) -> int:
    """Create a key and count it, over and over, as a client of the cluster would; say how many."""
    written = 0
    with RedisCluster.from_url(url, decode_responses=True) as client:
        while not stop.is_set():
            client.set(f"{tag}:written-{written}", written)
            client.incr(f"{tag}:count")
            written += 1
            writing.set()
    return written
