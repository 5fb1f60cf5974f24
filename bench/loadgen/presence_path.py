"""The hub's core per device connecting or leaving, on its presence path, in-process.

    python -m bench.loadgen.presence_path [--pairs 500] [--rounds 4] [--in-flight 16]

A reconnect storm is the presence path many times over: every connection
cut is unmarked in the pair's online hash and its member's presence
reconciled, and every device that comes back is marked and reconciled
again. This measures that path alone (``presence.announce``: the online
hash, the decision, the ``presence`` event stored), called in this process
against a real Valkey as signal_path.py does (this process on core 0,
Valkey on core 1): every device of ``--pairs`` fresh pairs comes online,
then leaves, ``--rounds`` times, ``--in-flight`` at a time, after one round
of warm-up. It prints one JSON line and a summary: this process's CPU time
per announcement (a device coming or going).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import uvloop

from heartline_hub.node import Node
from heartline_hub.presence import announce
from heartline_hub.runtime import tune_garbage_collector
from heartline_hub.settings import Settings
from heartline_hub.store import Store, TokenRecord

from .signal_path import IDEMPOTENCY_TTL_MS, RETENTION_MS, on_pinned_valkey, seed_devices

__all__ = ["main"]


async def each_comes_and_goes(node: Node, devices: list[TokenRecord], in_flight: int) -> None:
    """Every device comes online, then every device leaves, ``in_flight`` at a time."""
    gate = asyncio.Semaphore(in_flight)

    async def one(index: int, online: bool) -> None:
        async with gate:
            await announce(node, devices[index], f"conn-{index}", online=online)

    for online in (True, False):
        await asyncio.gather(*(one(index, online) for index in range(len(devices))))


async def _measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    store = Store.from_url(url, idempotency_ttl_ms=IDEMPOTENCY_TTL_MS, retention_ms=RETENTION_MS)
    node = Node(Settings(), store)
    try:
        devices = await seed_devices(node, args.pairs)
        await each_comes_and_goes(node, devices, args.in_flight)
        tune_garbage_collector()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.rounds):
            await each_comes_and_goes(node, devices, args.in_flight)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await store.close()
    announcements = 2 * len(devices) * args.rounds
    return {
        "pairs": args.pairs,
        "announcements": announcements,
        "in_flight": args.in_flight,
        "cpu_us_per_announcement": round(cpu / announcements * 1e6, 1),
        "announcements_per_s": round(announcements / wall),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args(argv)
    result = uvloop.run(on_pinned_valkey(lambda url: _measure(args, url)))
    print(json.dumps(result))
    print(
        f"{result['announcements']} devices coming or going on {result['pairs']} pairs, "
        f"{result['in_flight']} at a time: {result['cpu_us_per_announcement']} µs of this "
        f"process's CPU each, {result['announcements_per_s']} a second"
    )


if __name__ == "__main__":
    main()
