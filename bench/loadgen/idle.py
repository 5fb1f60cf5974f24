"""Idle scale: many connected devices and no signals: the hub's memory per connection, its CPU.

    python -m bench.loadgen.idle [--pairs 5000] [--hold 30] [--heartbeat-ms 25000] [--deflate]
                                 [--devices-ping]

Creates ``--pairs`` pairs and connects both members of each (2 x pairs
WebSockets from this process, at most 200 handshakes in flight), then holds
them for ``--hold`` seconds without a signal. Each device keeps its
connection as SPEC.md 7.7 asks: it answers the hub's ``ping`` with a
``pong``, and pings on its own only when it has heard nothing for one and a
quarter intervals (``--heartbeat-ms``, the interval the hub announces, set on
the hub too). ``--devices-ping`` has each device ping every interval instead,
the first at a random moment of the first interval (what the protocol asked
of devices before the hub pinged; the hub still pings those whose last ping
is more than half an interval old, and they answer). Placement as for
run.py: the hub alone on core 0, Valkey and this process on core 1. Prints
one JSON line and a summary: the hub's RSS before and after connecting and
at the end of the hold, the RSS per connection, and the hub's CPU over the
hold. ``--deflate`` turns
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

import aiohttp
from websockets.asyncio.client import ClientConnection

from heartline_protocol import Ping, Pong, decode_from_hub, encode

from .generator import Client, connect_all
from .run import Stack, cpu_seconds, create_pairs, memory_kib, on_fresh_stack

__all__ = ["main"]

TARGET_KIB_PER_CONNECTION = 15.0
TARGET_IDLE_CPU = 0.02
SETTLE_INTERVALS = 1.25
"""Heartbeat intervals held before measuring: by then the hub has pinged every
device once, and pings go at their steady rate (one a device an interval)."""


async def keep_alive(
    ws: ClientConnection, interval_s: float, until: float, count_from: float = 0.0
) -> int:
    """Ping every ``interval_s`` until ``until``, the first at a random moment of the
    first interval; the hub's pings are answered (SPEC.md 4.9) and anything else is
    read. How many pings were sent from ``count_from`` on."""
    pings = 0

    async def read() -> None:
        async for data in ws:
            frame = decode_from_hub(data) if isinstance(data, bytes) else None
            if isinstance(frame, Ping):
                await ws.send(encode(Pong(t=frame.t)))

    reader = asyncio.ensure_future(read())
    try:
        next_ping = time.perf_counter() + random.uniform(0, interval_s)
        while next_ping < until:
            await asyncio.sleep(max(0.0, next_ping - time.perf_counter()))
            await ws.send(encode(Ping(t=int(time.time() * 1000))))
            pings += time.perf_counter() >= count_from
            next_ping += interval_s
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
    finally:
        reader.cancel()
    return pings


async def answer_pings(
    ws: ClientConnection, interval_s: float, until: float, count_from: float = 0.0
) -> int:
    """Answer the hub's pings until ``until``, pinging only after hearing nothing for
    1.25 intervals (as the reference client does); how many pongs were sent from
    ``count_from`` on."""
    pongs = 0
    while (left := until - time.perf_counter()) > 0:
        try:
            data = await asyncio.wait_for(ws.recv(), min(left, 1.25 * interval_s))
        except TimeoutError:
            if until - time.perf_counter() > 0:
                await ws.send(encode(Ping(t=int(time.time() * 1000))))
            continue
        frame = decode_from_hub(data) if isinstance(data, bytes) else None
        if isinstance(frame, Ping):
            await ws.send(encode(Pong(t=frame.t)))
            pongs += time.perf_counter() >= count_from
    return pongs


async def hub_pings(url: str) -> float:
    """The hub's count of the pings it sent (``/metrics``)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("heartline_heartbeat_pings_total ")
    )


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
    interval_s = args.heartbeat_ms / 1000
    settle_s = SETTLE_INTERVALS * interval_s
    started = time.perf_counter() + settle_s
    until = started + args.hold
    if args.devices_ping:
        keeping = asyncio.gather(
            *(keep_alive(_open(c), interval_s, until, started) for c in clients)
        )
    else:
        keeping = asyncio.gather(
            *(answer_pings(_open(c), interval_s, until, started) for c in clients)
        )
    await asyncio.sleep(settle_s)
    pinged_before = await hub_pings(stack.url)
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    heartbeats = await keeping
    hub_cpu = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - started)
    pinged = await hub_pings(stack.url) - pinged_before
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
        "pings_by": "devices" if args.devices_ping else "hub",
        "pings_answered": sum(heartbeats),
        "hub_pings_sent": int(pinged),
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
    parser.add_argument(
        "--devices-ping", action="store_true", help="devices ping every interval on their own"
    )
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
        f"{result['pings_answered']} pings answered by the "
        f"{'hub' if args.devices_ping else 'devices'}, "
        f"{result['still_open_after_hold']} still open): hub RSS {rss['idle']} MiB before, "
        f"{rss['connected']} connected, {rss['end_of_hold']} at the end; "
        f"{result['hub_kib_per_connection']} KiB per connection "
        f"(target {TARGET_KIB_PER_CONNECTION:g}); hub CPU {result['hub_cpu_idle']:.2%} "
        f"(target < {TARGET_IDLE_CPU:.0%})"
    )


if __name__ == "__main__":
    main()
