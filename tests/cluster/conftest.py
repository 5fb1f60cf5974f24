"""The local Valkey Cluster, started once for the tests that need one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import LocalCluster, valkey_cluster


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    with valkey_cluster() as cluster:
        yield cluster
