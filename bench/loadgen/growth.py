"""Cost growth: does a signal cost more when Redis holds many idle pairs?

    python -m bench.loadgen.growth [--idle 0,10000,100000] [--rate 1000] [--pairs 1000]

For each count of idle pairs: a fresh hub and a fresh Valkey (persistence
on), then the idle pairs written through the hub's own store and journal,
as pairing over HTTP and a short exchange would leave them (two members,
each with a device and its token, and five events: both ``joined``, a
``check_in``, the partner's ``ack`` of it and a ``feeling_disconnected``),
then the workload of run.py at ``--rate`` on ``--pairs`` fresh active pairs.
Valkey's ``used_memory`` is read before and after writing the idle pairs
(their memory at rest, per pair). Prints one JSON line per count and a
table: partner latency, the hub's and Valkey's CPU per signal.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from heartline_hub import decisions
from heartline_hub.journal import Journal
from heartline_hub.store import Store
from heartline_protocol import Ack, CheckIn, FeelingDisconnected

from .run import Stack, on_fresh_stack
from .run import measure as measure_load
from .seed import in_parallel, seed_pair

__all__ = ["main"]

RETENTION_MS = 30 * 86_400_000


async def used_memory(url: str) -> int:
    client: Any = redis.Redis.from_url(url)
    try:
        return int((await client.info("memory"))["used_memory"])
    finally:
        await client.aclose()


async def add_idle_pair(store: Store, journal: Journal) -> None:
    pair = await seed_pair(store, journal)
    first, second = pair.first, pair.second
    bid = await journal.record(
        pair.id, decisions.signal(first.member, first.id, CheckIn(note="thinking of you"))
    )
    assert bid is not None
    heard = Ack(target=bid.event.seq, reply="I hear you")
    await journal.record(pair.id, decisions.signal(second.member, second.id, heard))
    missing = FeelingDisconnected(note="long day, miss you")
    await journal.record(pair.id, decisions.signal(second.member, second.id, missing))
    journal.forget(pair.id)


async def preload(url: str, count: int) -> float:
    """Write ``count`` idle pairs; the seconds it took."""
    store = Store.from_url(url, idempotency_ttl_ms=86_400_000, retention_ms=RETENTION_MS)
    journal = Journal(store)
    started = time.perf_counter()

    async def one(_: int) -> None:
        await add_idle_pair(store, journal)

    try:
        await in_parallel(count, one)
    finally:
        await store.close()
    return time.perf_counter() - started


async def run_with_idle(args: argparse.Namespace, idle: int, stack: Stack) -> dict[str, Any]:
    """Write ``idle`` pairs on the fresh ``stack``, then the load run."""
    url = stack.valkey.connection_url
    before = await used_memory(url)
    preload_s = await preload(url, idle)
    after = await used_memory(url)
    load = await measure_load(args, stack)
    rate = float(args.rate)
    return {
        "idle_pairs": idle,
        "preload_s": round(preload_s, 1),
        "valkey_used_memory_mib": {"before": round(before / 2**20, 1),
                                   "after_idle_pairs": round(after / 2**20, 1)},
        "valkey_bytes_per_idle_pair": round((after - before) / idle) if idle else None,
        "hub_us_per_signal": round(load["hub_cpu"] / rate * 1e6, 1),
        "valkey_us_per_signal": round(load["valkey_cpu"] / rate * 1e6, 1),
        "load": load,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--idle", default="0,10000,100000")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args(argv)
    args.persistence, args.warmup, args.measure, args.drain = "on", 5.0, 10.0, 10.0
    args.gc_log = False
    rows = []
    cores = os.sched_getaffinity(0)
    for idle in (int(count) for count in args.idle.split(",")):
        os.sched_setaffinity(0, cores)  # the last load run left this process on the load core
        result = on_fresh_stack(
            Stack(persistence=True), functools.partial(run_with_idle, args, idle)
        )
        print(json.dumps(result), flush=True)
        rows.append(result)
    print(
        "| idle pairs | verdict | partner p50 / p99 ms | hub µs/signal | Valkey µs/signal "
        "| Valkey bytes per idle pair | preload s |"
    )
    print("|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        load = r["load"]
        print(f"| {r['idle_pairs']:,} | {load['verdict']} | {load['partner_ms']['p50']} / "
              f"{load['partner_ms']['p99']} | {r['hub_us_per_signal']} | "
              f"{r['valkey_us_per_signal']} | {r['valkey_bytes_per_idle_pair']} | "
              f"{r['preload_s']} |")  # fmt: skip


if __name__ == "__main__":
    main()
