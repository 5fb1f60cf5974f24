"""Retention: under a steady signal rate, Redis memory levels off once history ages out.

    python -m bench.loadgen.retention [--rate 1000] [--pairs 1000] [--measure 60]
        [--retention-s 10] [--idempotency-ttl-s 10]

The workload of run.py with a long measure window, on a hub whose history
retention (``--retention-days``) and idempotency TTL are a few seconds, so
that what a production hub keeps for 30 days and 24 hours ages out within
the run. Valkey's ``used_memory`` and the number of stored events are read
every few seconds: they level off instead of growing with the number of
signals sent. Prints one JSON line and the samples.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from .run import Stack, on_fresh_stack
from .run import measure as measure_load

__all__ = ["main"]

SAMPLE_EVERY_S = 5.0


async def stored(client: Any) -> tuple[int, int]:
    """Valkey's used_memory, and the events in every pair's log."""
    memory = int((await client.info("memory"))["used_memory"])
    events = 0
    async for key in client.scan_iter(match="hl:{p:*}:log", count=1000):
        events += int(await client.xlen(key))
    return memory, events


async def sample(url: str, seconds: float) -> list[list[float]]:
    client: Any = redis.Redis.from_url(url)
    samples = []
    started = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - started) < seconds:
            memory, events = await stored(client)
            samples.append([round(elapsed, 1), round(memory / 2**20, 2), events])
            await asyncio.sleep(SAMPLE_EVERY_S)
    finally:
        await client.aclose()
    return samples


async def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    total_s = 15 + args.warmup + args.measure + args.drain
    load, samples = await asyncio.gather(
        measure_load(args, stack), sample(stack.valkey.connection_url, total_s)
    )
    return {"retention_s": args.retention_s, "idempotency_ttl_s": args.idempotency_ttl_s,
            "rate": args.rate, "measure_s": args.measure,
            "samples_s_mib_events": samples, "load": load}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument("--retention-s", type=float, default=10.0)
    parser.add_argument("--idempotency-ttl-s", type=int, default=10)
    args = parser.parse_args(argv)
    args.persistence, args.warmup, args.drain, args.gc_log = "on", 5.0, 10.0, False
    flags = [f"--retention-days={args.retention_s / 86_400}",
             f"--idempotency-ttl-s={args.idempotency_ttl_s}"]  # fmt: skip
    result = on_fresh_stack(Stack(persistence=True, hub_flags=flags), functools.partial(run, args))
    print(json.dumps(result))
    print(f"verdict {result['load']['verdict']}, partner p99 {result['load']['partner_ms']['p99']}")
    for elapsed, mib, events in result["samples_s_mib_events"]:
        print(f"  {elapsed:6.1f} s  Valkey {mib:7.2f} MiB  {events:8d} events stored")


if __name__ == "__main__":
    main()
