"""The store under test: one ``Store`` per test, on each real server there is.

Every store test runs three times: against the session's embedded Valkey,
against the local Valkey Cluster (the same code, routed by slot), and against
the machine's Redis (database 15) when one answers on 127.0.0.1:6379.
Tests make pairs with random ids and erase what they made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from heartline_hub.store import Store
from tests.support.cluster import admin_client
from tests.support.servers import MACHINE_REDIS_URL, machine_redis_answers

IDEMPOTENCY_TTL_MS = 10_000
"""Client message ids are remembered for 10 s of the times the tests pass in."""
RETENTION_MS = 60_000
"""History older than a minute (of the times the tests pass in) is trimmed."""


@pytest.fixture(params=["session-valkey", "local-cluster", "machine-redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "local-cluster":
        return str(request.getfixturevalue("cluster_url"))
    if request.param == "machine-redis":
        if not machine_redis_answers():
            pytest.skip("no Redis on 127.0.0.1:6379")
        return MACHINE_REDIS_URL
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store.from_url(
        store_url, idempotency_ttl_ms=IDEMPOTENCY_TTL_MS, retention_ms=RETENTION_MS
    )
    yield opened
    await opened.close()


@pytest.fixture
async def server(store_url: str) -> AsyncIterator[redis.Redis | redis.RedisCluster]:
    """A plain client of the same server or cluster, to look at what the store left there."""
    client = admin_client(store_url)
    yield client
    await client.aclose()
