"""The local cluster the scale-out tests run on is a real, healthy Valkey Cluster."""

from __future__ import annotations

import time

import redis.asyncio.cluster as redis_cluster

from tests.support.cluster import SLOTS, LocalCluster, valkey_cluster


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
