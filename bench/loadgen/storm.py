"""Reconnect storm: thousands of devices drop at once and come back with their resume positions.

    python -m bench.loadgen.storm [--pairs 5000] [--rate 500] [--before 5] [--after 15]
                                  [--devices node|python] [--cluster]

``--pairs`` fresh pairs; both members connect (at most 200 handshakes in
flight). The first members stay connected throughout and send signals at
``--rate`` (``check_in`` and ``feeling_disconnected`` in turn, open loop,
as run.py). After ``--before`` seconds every second member's connection is
cut at once (the TCP connection aborted by the device, as a phone losing
its network), and all of them reconnect at once with ``hello`` carrying
their resume position. Signals keep flowing for ``--after`` seconds.

Then each second member's device is checked against the log: it must have
received every event of its pair after the version its first ``welcome``
gave, exactly once (missed and duplicated events are counted). Also
reported: how long until every device was back (resumed), how many resumes
the hub refused or answered with ``history_lost``, and the result latency
and failures of the devices that stayed, before, during and after the
storm. Placement as for run.py.

The devices are one Node.js process (``node/storm.mjs``, the default) or
this process (``--devices python``). On a 2-core machine the Python devices
fill the load core during the storm: websockets' client handshakes, not the
hub, then set the time to come back, and the run is reported invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from heartline_hub.store.keys import PairKeys
from heartline_protocol import (
    SUBPROTOCOL,
    CheckIn,
    Error,
    Event,
    FeelingDisconnected,
    Hello,
    Ping,
    Pong,
    Position,
    Result,
    Signal,
    Welcome,
    decode_from_hub,
    encode,
)
from tests.support.cluster import admin_client

from .cluster_stack import ClusterStack
from .node_generator import NodeProcess
from .run import (
    LOAD_CORE,
    SATURATED,
    Stack,
    core_busy_ticks,
    cpu_seconds,
    create_pairs,
    on_fresh_stack,
    percentiles,
)

__all__ = ["main"]

HANDSHAKES_IN_FLIGHT = 200
ATTEMPTS = 20
SETTLE_S = 30.0
"""After the last signal, how long the devices get to receive everything stored."""


@dataclass(eq=False)
class Device:
    token: str
    ws: ClientConnection | None = None
    pair: str = ""
    epoch: str = ""
    first_version: int = 0
    last_seq: int = 0
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    resumed: bool | None = None
    history_lost: bool = False
    refusals: int = 0
    back_at: float | None = None
    close_code: int | None = None
    """How the hub (or the network) ended the device's connection before the end of the run."""


@dataclass
class Sends:
    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, tuple[float, str]] = field(default_factory=dict)


async def open_device(device: Device, url: str, resume: Position | None) -> None:
    """Connect and say hello (retrying ``unavailable`` refusals as SPEC.md asks)."""
    for _ in range(ATTEMPTS):
        ws = await connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None,
                           ping_interval=None, max_queue=None, open_timeout=60,
                           proxy=None)  # fmt: skip
        await ws.send(encode(Hello(token=device.token, agent="heartline-storm", resume=resume)))
        first = decode_from_hub(await asyncio.wait_for(ws.recv(), 60))  # type: ignore[arg-type]
        if isinstance(first, Welcome):
            device.ws = ws
            if resume is None:
                device.pair, device.epoch = first.pair, first.epoch
                device.first_version = device.last_seq = first.state.version
            else:
                device.resumed, device.history_lost = first.resumed, first.history_lost
            return
        await ws.close()
        device.refusals += 1
        if not (isinstance(first, Error) and first.code == "unavailable"):
            raise ConnectionError(f"no welcome but {first!r}")
        await asyncio.sleep((first.retry_after_ms or 1000) / 1000)
    raise ConnectionError(f"refused {ATTEMPTS} times")


async def listen(device: Device, sends: Sends | None) -> None:
    """Read until the connection ends: events are checked, results timed."""
    assert device.ws is not None
    try:
        async for data in device.ws:
            frame = decode_from_hub(data)  # type: ignore[arg-type]
            if isinstance(frame, Event):
                if frame.seq in device.seen:
                    device.duplicates += 1
                device.seen.add(frame.seq)
                device.last_seq = max(device.last_seq, frame.seq)
            elif sends is not None and isinstance(frame, Result | Error) and frame.id:
                code = frame.code if isinstance(frame, Error) else "ok"
                sends.answered[frame.id] = (time.perf_counter(), code)
            elif isinstance(frame, Ping):
                await device.ws.send(encode(Pong(t=frame.t)))  # the hub's check (SPEC.md 7.7)
    except ConnectionClosed:
        pass


async def send_open_loop(stayers: list[Device], rate: float, seconds: float, sends: Sends) -> float:
    """Signal ``k`` from stayer ``k mod n`` at ``start + (k + 1) / rate``; the start time."""
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for k in range(total):
        due = start + (k + 1) / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        device = stayers[k % len(stayers)]
        assert device.ws is not None
        body = CheckIn(note=f"storm {k}") if k % 2 else FeelingDisconnected(note=f"storm {k}")
        sends.sent[f"s{k}"] = time.perf_counter()
        try:
            await device.ws.send(encode(Signal(f"s{k}", body)))
        except ConnectionClosed:
            sends.answered[f"s{k}"] = (time.perf_counter(), "closed")
    return start


async def storm(devices: list[Device], url: str) -> tuple[float, float]:
    """Cut every connection at once, then bring every device back with its position."""
    for device in devices:
        assert device.ws is not None
        device.ws.transport.abort()
    cut_at = time.perf_counter()
    await asyncio.sleep(0)

    async def back(device: Device) -> None:
        await open_device(device, url, Position(device.last_seq, device.epoch))
        device.back_at = time.perf_counter()

    await asyncio.gather(*(back(device) for device in devices))
    return cut_at, time.perf_counter()


def latency_by_phase(sends: Sends, cut_at: float, back_at: float) -> dict[str, Any]:
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    failed: dict[str, int] = {}
    for request, sent in sends.sent.items():
        phase = "before" if sent < cut_at else "during" if sent <= back_at else "after"
        answer = sends.answered.get(request)
        if answer is None or answer[1] != "ok":
            code = "none" if answer is None else answer[1]
            failed[f"{code} {phase}"] = failed.get(f"{code} {phase}", 0) + 1
            continue
        phases[phase].append(answer[0] - sent)
    return {"result_ms": {name: percentiles(values) for name, values in phases.items()},
            "signals": {name: len(values) for name, values in phases.items()},
            "failed": failed}  # fmt: skip


def slowest_by_second(sends: Sends, cut_at: float, seconds: int = 8) -> list[float | None]:
    """The stayers' slowest answer (ms) among the signals sent in each second after the cut.

    Shows when in the storm the stayers wait: while the cut connections and
    the returning upgrades flood in, or while the sessions open.
    """
    slowest: list[float | None] = [None] * seconds
    for request, sent in sends.sent.items():
        second = int(sent - cut_at)
        answer = sends.answered.get(request)
        if 0 <= second < seconds and answer is not None and answer[1] == "ok":
            ms = round((answer[0] - sent) * 1000, 1)
            slowest[second] = max(ms, slowest[second] or 0.0)
    return slowest


async def stored_versions(devices: list[Device], redis_url: str) -> list[int]:
    client: Any = admin_client(redis_url)
    try:
        async with client.pipeline(transaction=False) as pipe:
            for device in devices:
                pipe.hget(PairKeys(device.pair).state, "version")
            return [int(version) for version in await pipe.execute()]
    finally:
        await client.aclose()


async def settle(devices: list[Device], redis_url: str) -> float:
    """Wait (up to SETTLE_S) until every device has seen its pair's stored version."""
    started = time.perf_counter()
    versions = await stored_versions(devices, redis_url)
    while time.perf_counter() - started < SETTLE_S:
        behind = sum(1 for d, v in zip(devices, versions, strict=True) if d.last_seq < v)
        if not behind:
            break
        await asyncio.sleep(0.2)
    return time.perf_counter() - started


def check_against_log(devices: list[Device], versions: list[int]) -> dict[str, Any]:
    """Missed and duplicated events, against each pair's stored version while all are connected.

    The versions are read before the devices close: a device leaving may
    add an event (its member went offline) that no device of the pair sees.
    """
    missed = expected = 0
    closed: dict[str, int] = {}
    for device in devices:
        if device.close_code is not None:
            closed[str(device.close_code)] = closed.get(str(device.close_code), 0) + 1
    for device, version in zip(devices, versions, strict=True):
        wanted = set(range(device.first_version + 1, int(version) + 1))
        expected += len(wanted)
        missed += len(wanted - device.seen)
    return {"events_expected": expected, "missed": missed,
            "duplicated": sum(device.duplicates for device in devices),
            "closed_by_hub": closed}  # fmt: skip


class StormCpu:
    """The hub's, this process's and the load core's CPU from the cut until all are back.

    This process is the devices (the generator): when it fills its core, the
    time to come back is the generator's, not the hub's, and the run is
    reported invalid, as run.py does.
    """

    def __init__(self, hub_pid: int, devices_pid: int) -> None:
        self._hub_pid = hub_pid
        self._devices_pid = devices_pid
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, tuple[int, int, int]]:
        return (
            time.perf_counter(),
            cpu_seconds(self._hub_pid),
            cpu_seconds(self._devices_pid),
            core_busy_ticks(LOAD_CORE),
        )

    def figures(self) -> dict[str, float]:
        (w0, hub0, gen0, core0), (w1, hub1, gen1, core1) = self._start, self._read()
        seconds = w1 - w0
        total = core1[1] - core0[1]
        return {
            "hub": round((hub1 - hub0) / seconds, 3),
            "generator": round((gen1 - gen0) / seconds, 3),
            "load_core_busy": round((core1[0] - core0[0]) / total, 3) if total else 0.0,
        }


def storm_verdict(cpu: dict[str, float]) -> tuple[str, list[str]]:
    """ "invalid" when the devices' own process or core was saturated during the storm."""
    reasons = [
        f"{name} {cpu[key]:.0%} during the storm"
        for name, key in (("generator", "generator"), ("load core", "load_core_busy"))
        if cpu[key] >= SATURATED
    ]
    return ("invalid" if reasons else "valid"), reasons


async def run_python(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """The storm with this process as every device."""
    url = f"ws://127.0.0.1:{stack.port}/v1/ws"
    tokens = await create_pairs(stack.url, args.pairs)
    stayers = [Device(token) for token in tokens[: args.pairs]]
    leavers = [Device(token) for token in tokens[args.pairs :]]
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)

    async def first_connect(device: Device) -> None:
        async with gate:
            await open_device(device, url, None)

    await asyncio.gather(*(first_connect(device) for device in stayers + leavers))
    sends = Sends()
    readers = [asyncio.ensure_future(listen(d, sends)) for d in stayers]
    readers += [asyncio.ensure_future(listen(d, None)) for d in leavers]
    sending = asyncio.ensure_future(
        send_open_loop(stayers, args.rate, args.before + args.after, sends)
    )
    await asyncio.sleep(args.before)
    assert stack.hub is not None
    cpu = StormCpu(stack.hub.pid, os.getpid())
    cut_at, all_back_at = await storm(leavers, url)
    storm_cpu = cpu.figures()
    readers += [asyncio.ensure_future(listen(d, None)) for d in leavers]
    await sending
    settled_s = await settle(leavers, stack.redis_url)
    for device in leavers:
        assert device.ws is not None
        device.close_code = device.ws.close_code
    checked = check_against_log(leavers, await stored_versions(leavers, stack.redis_url))
    for device in stayers + leavers:
        assert device.ws is not None
        await device.ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return report(args, leavers, sends, window=(cut_at, all_back_at),
                  settled_s=settled_s, checked=checked, cpu=storm_cpu)  # fmt: skip


async def run_node(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """The storm with node/storm.mjs as every device, pinned to the load core."""
    tokens = await create_pairs(stack.url, args.pairs)
    config = {
        "url": f"ws://127.0.0.1:{stack.port}/v1/ws",
        "stayers": tokens[: args.pairs],
        "leavers": tokens[args.pairs :],
        "rate": args.rate,
        "seconds": args.before + args.after,
    }
    async with NodeProcess("storm.mjs", config, LOAD_CORE) as node:
        await node.start()
        pairs = (await node.line("connected"))["pairs"]
        await asyncio.sleep(args.before)
        assert stack.hub is not None
        cpu = StormCpu(stack.hub.pid, node.pid)
        await node.command({"command": "cut"})
        back = await node.line("back")
        storm_cpu = cpu.figures()
        leavers = [
            Device(token, pair=pair, back_at=at)
            for token, pair, at in zip(config["leavers"], pairs, back["back_at"], strict=True)
        ]
        await node.line("sent")
        versions = await stored_versions(leavers, stack.redis_url)
        await node.command({"command": "settle", "versions": versions})
        done = await node.line("done")
        await node.finish()
    for device, seen in zip(leavers, done["leavers"], strict=True):
        device.first_version = int(seen["first_version"])
        device.seen = {int(seq) for seq in seen["seen"]}
        device.duplicates = int(seen["duplicates"])
        device.resumed = seen["resumed"]
        device.history_lost = bool(seen["history_lost"])
        device.refusals = int(seen["refusals"])
        device.close_code = seen["close_code"]
    sends = Sends()
    for k, (sent, answered, code) in enumerate(done["sends"]):
        sends.sent[f"s{k}"] = float(sent)
        if answered is not None:
            sends.answered[f"s{k}"] = (float(answered), str(code))
    checked = check_against_log(leavers, versions)
    cut_at = float(back["cut_at"])
    all_back_at = max(float(at) for at in back["back_at"])
    result = report(args, leavers, sends, window=(cut_at, all_back_at),
                    settled_s=float(done["settled_s"]), checked=checked, cpu=storm_cpu)  # fmt: skip
    result["devices_loop_delay_ms"] = back["loop_delay_ms"]
    return result


def report(
    args: argparse.Namespace,
    leavers: list[Device],
    sends: Sends,
    *,
    window: tuple[float, float],
    settled_s: float,
    checked: dict[str, Any],
    cpu: dict[str, float],
) -> dict[str, Any]:
    """The run's JSON result; ``window`` is (cut, all back), ``cpu`` StormCpu's figures."""
    cut_at, all_back_at = window
    back = sorted((device.back_at or all_back_at) - cut_at for device in leavers)
    verdict, reasons = storm_verdict(cpu)
    return {
        "pairs": args.pairs,
        "devices": args.devices,
        "devices_cut": len(leavers),
        "rate": args.rate,
        "all_back_s": round(all_back_at - cut_at, 2),
        "back_s": {"p50": round(back[len(back) // 2], 2), "max": round(back[-1], 2)},
        "resumed": sum(1 for d in leavers if d.resumed),
        "history_lost": sum(1 for d in leavers if d.history_lost),
        "handshakes_refused": sum(d.refusals for d in leavers),
        "settled_s": round(settled_s, 2),
        **checked,
        "stayers": latency_by_phase(sends, cut_at, all_back_at),
        "stayers_slowest_ms_by_second": slowest_by_second(sends, cut_at),
        "storm_cpu": cpu,
        "verdict": verdict,
        "reasons": reasons,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument(
        "--devices",
        choices=["node", "python"],
        default="node",
        help="node: node/storm.mjs (needs node and npm); python: this process",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="the hub on a local Valkey Cluster (3 primaries, 3 replicas) instead of one Valkey",
    )
    args = parser.parse_args(argv)
    stack = ClusterStack(wait_replicas=0) if args.cluster else Stack(persistence=True)
    work = run_node if args.devices == "node" else run_python
    result = on_fresh_stack(stack, functools.partial(work, args), uvloop.run)
    print(json.dumps(result))
    print(
        f"{result['devices_cut']} devices cut at once: all back in {result['all_back_s']} s "
        f"(median {result['back_s']['p50']} s), {result['resumed']} resumed, "
        f"{result['history_lost']} history lost, {result['handshakes_refused']} handshakes "
        f"refused; {result['events_expected']} events expected, {result['missed']} missed, "
        f"{result['duplicated']} duplicated (settled in {result['settled_s']} s, closed by the "
        f"hub: {result['closed_by_hub']}); stayers' result ms {result['stayers']}, "
        f"slowest in each second after the cut {result['stayers_slowest_ms_by_second']}; "
        f"CPU from the cut until all were back {result['storm_cpu']}: "
        f"{result['verdict'].upper()} {'; '.join(result['reasons'])}"
    )


if __name__ == "__main__":
    main()
