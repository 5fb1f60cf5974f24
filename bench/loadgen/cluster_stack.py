"""A load-test stack on a local Valkey Cluster instead of one Valkey.

Three primaries and one replica each, assembled as the test suite's fixture
does (``tests/support/cluster.py``), all pinned to the load core beside the
generator; the hub on core 0 is given their seeds as
``redis+cluster://``. Valkey's CPU figure is then the first primary's, one
node's of six.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

from tests.support.cluster import LocalCluster, valkey_cluster

from .run import LOAD_CORE, Stack

__all__ = ["ClusterStack"]


class ClusterStack(Stack):
    """A hub on a local Valkey Cluster; the cluster's nodes pinned to the load core."""

    def __init__(self, wait_replicas: int) -> None:
        super().__init__(persistence=False, hub_flags=[f"--redis-wait-replicas={wait_replicas}"])
        self._cluster_stack = ExitStack()
        self.cluster: LocalCluster | None = None

    @property
    def redis_url(self) -> str:
        assert self.cluster is not None
        return self.cluster.hub_url

    @property
    def valkey_pid(self) -> int:
        """The first primary's: the CPU figure of Valkey is one node's of six."""
        assert self.cluster is not None
        return _pid(self.cluster.primaries[0])

    def start_redis(self) -> None:
        self.cluster = self._cluster_stack.enter_context(valkey_cluster())
        for node in self.cluster.nodes:
            os.sched_setaffinity(_pid(node), {LOAD_CORE})

    def stop_redis(self) -> None:
        self._cluster_stack.close()


def _pid(node: Any) -> int:
    process = node.server._process
    assert process is not None
    return int(process.pid)
