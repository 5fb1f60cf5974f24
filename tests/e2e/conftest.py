"""Every story runs twice: on one Valkey server, and on the local Valkey Cluster.

On the cluster the same hub code routes each pair's keys to the primary of
their slot and fans out on sharded pub/sub; the stories that start two hubs
run them on two ports sharing the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.hubs import HubProcess, hub_starter


@pytest.fixture(scope="session", params=["valkey", "valkey-cluster"])
def engine_url(request: pytest.FixtureRequest) -> str:
    """The Redis URL the story's hubs use: one server, or a cluster's seeds."""
    name = "cluster_url" if request.param == "valkey-cluster" else "redis_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def shared_hub(engine_url: str) -> Iterator[HubProcess]:
    """One hub (per engine) for the stories that do not stop, kill or reconfigure it."""
    hub = HubProcess(engine_url).start()
    yield hub
    hub.stop()


@pytest.fixture
def start_hub(engine_url: str) -> Iterator[Callable[..., HubProcess]]:
    """Hubs of the story's own on the engine (or on ``url``); all stopped after it."""
    with hub_starter(engine_url) as start:
        yield start
