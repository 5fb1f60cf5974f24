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
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from heartline_hub import decisions
from heartline_hub.auth import hash_secret, new_id, new_token
from heartline_hub.clock import now_ms
from heartline_hub.journal import Journal
from heartline_hub.store import DeviceKind, DeviceRecord, Scope, Store, TokenRecord
from heartline_protocol import Ack, CheckIn, FeelingDisconnected

from .run import LOAD_CORE, Stack, machine
from .run import measure as measure_load

__all__ = ["main"]

PRELOAD_IN_FLIGHT = 256
RETENTION_MS = 30 * 86_400_000


async def used_memory(url: str) -> int:
    client: Any = redis.Redis.from_url(url)
    try:
        return int((await client.info("memory"))["used_memory"])
    finally:
        await client.aclose()


async def add_idle_pair(store: Store, journal: Journal) -> None:
    now = now_ms()
    pair_id, invite = new_id("p"), hash_secret(new_token())
    first, second = (
        DeviceRecord(new_id("d"), new_id("m"), DeviceKind.PHONE, Scope.FULL,
                     hash_secret(new_token()), now)
        for _ in range(2)
    )  # fmt: skip
    assert await store.create_pair(pair_id, first, invite_hash=invite, epoch=new_id("ep"), now=now)
    assert await store.join_pair(pair_id, second, invite_hash=invite, now=now) == 1
    for device in (first, second):
        record = TokenRecord(pair_id, device.member, device.id, device.scope)
        await store.save_token(device.token_hash, record)
        await journal.record(pair_id, decisions.joined(device.member, device.id))
    bid = await journal.record(
        pair_id, decisions.signal(first.member, first.id, CheckIn(note="thinking of you"))
    )
    assert bid is not None
    heard = Ack(target=bid.event.seq, reply="I hear you")
    await journal.record(pair_id, decisions.signal(second.member, second.id, heard))
    missing = FeelingDisconnected(note="long day, miss you")
    await journal.record(pair_id, decisions.signal(second.member, second.id, missing))
    journal.forget(pair_id)


async def preload(url: str, count: int) -> float:
    """Write ``count`` idle pairs; the seconds it took."""
    store = Store.from_url(url, idempotency_ttl_ms=86_400_000, retention_ms=RETENTION_MS)
    journal = Journal(store)
    gate = asyncio.Semaphore(PRELOAD_IN_FLIGHT)
    started = time.perf_counter()

    async def one() -> None:
        async with gate:
            await add_idle_pair(store, journal)

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await store.close()
    return time.perf_counter() - started


async def run_with_idle(args: argparse.Namespace, idle: int, stack: Stack) -> dict[str, Any]:
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
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two cores: the hub on core 0, Valkey and the generator on core 1")
    os.sched_setaffinity(0, {LOAD_CORE})
    rows = []
    for idle in (int(count) for count in args.idle.split(",")):
        stack = Stack(persistence=True)
        try:
            stack.start()
            result = asyncio.run(run_with_idle(args, idle, stack))
        finally:
            stack.stop()
        result["machine"] = machine()
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
