"""Idle scale: many connected devices and no signals: the hub's memory per connection, its CPU.

    python -m bench.loadgen.idle [--pairs 5000] [--hold 30] [--heartbeat-ms 25000] [--deflate]

Creates ``--pairs`` pairs and connects both members of each (2 x pairs
WebSockets from this process, at most 200 handshakes in flight), then holds
them for ``--hold`` seconds without a signal. Each device sends the
protocol's ``ping`` every ``--heartbeat-ms`` (the interval the hub announces,
set on the hub too), the first at a random moment of the first interval, and
reads what comes back. Placement as for run.py: the hub alone on core 0,
Valkey and this process on core 1. Prints one JSON line and a summary: the
hub's RSS before and after connecting and at the end of the hold, the RSS
per connection, and the hub's CPU over the hold. ``--deflate`` turns
permessage-deflate on at the hub (``--websocket-deflate=on``) and has every
device offer it: what compression costs a deployment that wants it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection

from heartline_protocol import Ping, encode

from .generator import Client, connect_all
from .run import Stack, cpu_seconds, create_pairs, memory_kib, on_fresh_stack

__all__ = ["main"]

TARGET_KIB_PER_CONNECTION = 15.0
TARGET_IDLE_CPU = 0.02


async def keep_alive(ws: ClientConnection, interval_s: float, until: float) -> int:
    """Ping every ``interval_s`` until ``until``, the first at a random moment of the
    first interval; the pongs and anything else are read."""
    pings = 0

    async def read() -> None:
        async for _ in ws:
            pass

    reader = asyncio.ensure_future(read())
    try:
        next_ping = time.perf_counter() + random.uniform(0, interval_s)
        while next_ping < until:
            await asyncio.sleep(max(0.0, next_ping - time.perf_counter()))
            await ws.send(encode(Ping(t=int(time.time() * 1000))))
            pings += 1
            next_ping += interval_s
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
    finally:
        reader.cancel()
    return pings


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    assert stack.hub is not None
    pid = stack.hub.pid
    rss_idle = memory_kib(pid, "VmRSS")
    tokens = await create_pairs(stack.url, args.pairs)
    clients, connect_s, refused = await connect_all(
        f"ws://127.0.0.1:{stack.port}/v1/ws", tokens, deflate=args.deflate
    )
    await asyncio.sleep(2.0)
    rss_connected = memory_kib(pid, "VmRSS")
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    until = started + args.hold
    pings = await asyncio.gather(
        *(keep_alive(_open(client), args.heartbeat_ms / 1000, until) for client in clients)
    )
    hub_cpu = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - started)
    rss_end = memory_kib(pid, "VmRSS")
    still_open = sum(
        1 for client in clients if client.ws is not None and client.ws.close_code is None
    )
    for client in clients:
        assert client.ws is not None
        await client.ws.close()
    per_connection = (rss_end - rss_idle) / len(clients)
    return {
        "pairs": args.pairs,
        "connections": len(clients),
        "still_open_after_hold": still_open,
        "connect_s": round(connect_s, 2),
        "handshakes_refused": refused,
        "hold_s": args.hold,
        "heartbeat_ms": args.heartbeat_ms,
        "deflate": args.deflate,
        "pings_sent": sum(pings),
        "hub_rss_mib": {
            "idle": round(rss_idle / 1024, 1),
            "connected": round(rss_connected / 1024, 1),
            "end_of_hold": round(rss_end / 1024, 1),
        },
        "hub_kib_per_connection": round(per_connection, 2),
        "hub_cpu_idle": round(hub_cpu, 4),
        "targets": {
            "kib_per_connection": TARGET_KIB_PER_CONNECTION,
            "idle_cpu": TARGET_IDLE_CPU,
            "met": per_connection <= TARGET_KIB_PER_CONNECTION and hub_cpu < TARGET_IDLE_CPU,
        },
    }


def _open(client: Client) -> ClientConnection:
    assert client.ws is not None
    return client.ws


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--heartbeat-ms", type=int, default=25_000)
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    args = parser.parse_args(argv)
    hub_flags = [f"--heartbeat-ms={args.heartbeat_ms}"]
    if args.deflate:
        hub_flags.append("--websocket-deflate=on")
    result = on_fresh_stack(
        Stack(persistence=True, hub_flags=hub_flags),
        functools.partial(measure, args),
    )
    print(json.dumps(result))
    rss = result["hub_rss_mib"]
    print(
        f"{result['connections']} idle connections for {args.hold:g} s "
        f"(heartbeat {args.heartbeat_ms} ms, deflate {'on' if args.deflate else 'off'}, "
        f"{result['pings_sent']} pings, "
        f"{result['still_open_after_hold']} still open): hub RSS {rss['idle']} MiB before, "
        f"{rss['connected']} connected, {rss['end_of_hold']} at the end; "
        f"{result['hub_kib_per_connection']} KiB per connection "
        f"(target {TARGET_KIB_PER_CONNECTION:g}); hub CPU {result['hub_cpu_idle']:.2%} "
        f"(target < {TARGET_IDLE_CPU:.0%})"
    )


if __name__ == "__main__":
    main()
