"""Where a slow delivery's time went: the cores' stalls, and who waited for a core.

A diagnostic for ``run.py --sched-log``; one process per core::

    python -m bench.loadgen.core_probe --core 0 [--watch hub=PID --watch valkey=PID ...]

It runs until SIGTERM, then prints one JSON object and exits.

* **Stalls of its core.** The probe is pinned to its core and, where the
  system allows it, runs under ``SCHED_FIFO``. It sleeps ``PERIOD_S`` again
  and again and notes every wake-up more than ``STALL_MS`` late. A
  real-time task is woken at once on its own core, ahead of every ordinary
  one, so a late wake-up means the core was not running anyone's code: the
  hypervisor had taken the virtual CPU, or the kernel held it. Without
  ``SCHED_FIFO`` (``"realtime": false``) a late wake-up may also be a wait
  behind another process.
* **Waits for a core** (``--watch``). Every ``SAMPLE_S`` it reads each
  watched process's ``/proc/<pid>/schedstat``: the time its main thread
  spent runnable but not running. Valkey and the generator share core 1 in
  a load run, so either may wait behind the other.

* **The core's speed.** Every ``SPEED_EVERY_S`` it times a fixed piece of
  pure Python (yardstick.py, ``SPEED_STEPS`` steps: about a millisecond).
  Under ``SCHED_FIFO`` nothing preempts it, so a longer time means a slower
  core: the benchmark machine's cores switch between two speeds about 1.5
  times apart every few seconds (BENCHMARKS.md, twelfth slice).

Every time is a :func:`time.perf_counter` reading (CLOCK_MONOTONIC, the
load generator's clock too), so the report lines up with each signal's send
and delivery times. :func:`holdups` does that.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from .yardstick import timed_ms

__all__ = ["SLOW_FACTOR", "CoreProbe", "ProbeReport", "holdups", "speed_figures", "waits_during"]

PERIOD_S = 0.002
STALL_MS = 2.0
SAMPLE_S = 0.01
WAIT_MS = 2.0
"""A watched process that waited this long for a core within one sample counts as held up."""
SPEED_EVERY_S = 0.25
SPEED_STEPS = 20_000
SLOW_FACTOR = 1.25
"""A yardstick sample this many times the run's fast ones (10th percentile) is a slow core."""


@dataclass
class ProbeReport:
    """What one probe saw: its core's stalls, and the watched processes' waits."""

    core: int
    realtime: bool
    stalls: list[tuple[float, float]] = field(default_factory=list)
    """(clock when the core stopped, ms)."""
    waits: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Per watched process: (clock at the end of a sample, ms it waited within it)."""
    speeds: list[tuple[float, float]] = field(default_factory=list)
    """(clock, ms the yardstick's ``SPEED_STEPS`` took then)."""

    @classmethod
    def from_json(cls, text: str) -> ProbeReport:
        raw = json.loads(text)
        return cls(
            core=raw["core"],
            realtime=raw["realtime"],
            stalls=[(at, ms) for at, ms in raw["stalls"]],
            waits={name: [(at, ms) for at, ms in rows] for name, rows in raw["waits"].items()},
            speeds=[(at, ms) for at, ms in raw.get("speeds", [])],
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "core": self.core,
                "realtime": self.realtime,
                "stalls": [[round(at, 4), round(ms, 2)] for at, ms in self.stalls],
                "waits": {
                    name: [[round(at, 4), ms] for at, ms in rows]
                    for name, rows in self.waits.items()
                },
                "speeds": [[round(at, 4), round(ms, 3)] for at, ms in self.speeds],
            }
        )


def speed_figures(report: ProbeReport, window: tuple[float, float], start: float) -> dict[str, Any]:
    """The core's yardstick times in ``window``: quantiles, and when the core ran slow.

    A sample is slow when it took ``SLOW_FACTOR`` times the window's 10th
    percentile or more; ``slow_at`` gives each one in seconds from ``start``
    (the run's schedule start), as the slow deliveries' bursts are.
    """
    inside = [(at, ms) for at, ms in report.speeds if window[0] <= at <= window[1]]
    if not inside:
        return {"samples": 0}
    times = sorted(ms for _, ms in inside)
    fast = _quantile(times, 0.1)
    slow_at = [round(at - start, 1) for at, ms in inside if ms >= SLOW_FACTOR * fast]
    return {
        "samples": len(times),
        "p10_ms": round(fast, 3),
        "p50_ms": round(_quantile(times, 0.5), 3),
        "p90_ms": round(_quantile(times, 0.9), 3),
        "slow_share": round(len(slow_at) / len(times), 3),
        "slow_at": slow_at,
    }


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def holdups(slow: Sequence[tuple[float, float]], reports: Sequence[ProbeReport]) -> dict[str, int]:
    """How many slow deliveries, each (sent, delivered), overlap each kind of hold-up.

    Kinds: ``core<N>_stalled`` (a stall of core N over ``STALL_MS``),
    ``<name>_waited`` (a sample in which that process waited ``WAIT_MS`` or
    more for a core) and ``none`` (a slow delivery that overlaps neither).
    One delivery may count under several kinds.
    """
    spans: dict[str, list[tuple[float, float]]] = {}
    for report in reports:
        spans[f"core{report.core}_stalled"] = [(at, at + ms / 1000) for at, ms in report.stalls]
        for name, rows in report.waits.items():
            spans[f"{name}_waited"] = [(at - SAMPLE_S, at) for at, ms in rows if ms >= WAIT_MS]
    counts = dict.fromkeys([*spans, "none"], 0)
    for sent, delivered in slow:
        hit = False
        for kind, intervals in spans.items():
            if any(begin < delivered and end > sent for begin, end in intervals):
                counts[kind] += 1
                hit = True
        counts["none"] += not hit
    return counts


def waits_during(
    slow: Sequence[tuple[float, float]], report: ProbeReport, window: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """Per watched process, how long it waited for a core during the slow deliveries.

    ``ms_per_slow``: its waits within each delivery's span (samples prorated
    by overlap), averaged over the slow deliveries; ``by_chance_ms``: what
    its share of waiting over the whole ``window`` would put in spans that
    long. A process whose waits hold deliveries up waits far more than
    chance during them.
    """
    if not slow:
        return {}
    mean_span = sum(delivered - sent for sent, delivered in slow) / len(slow)
    figures = {}
    for name, rows in report.waits.items():
        within = sum(_overlap_ms(rows, sent, delivered) for sent, delivered in slow)
        in_window = sum(ms for at, ms in rows if window[0] <= at <= window[1])
        share = in_window / ((window[1] - window[0]) * 1000)
        figures[name] = {
            "ms_per_slow": round(within / len(slow), 2),
            "by_chance_ms": round(share * mean_span * 1000, 2),
        }
    return figures


def _overlap_ms(rows: Sequence[tuple[float, float]], begin: float, end: float) -> float:
    total = 0.0
    for at, ms in rows:
        overlap = min(at, end) - max(at - SAMPLE_S, begin)
        if overlap > 0:
            total += ms * overlap / SAMPLE_S
    return total


class CoreProbe:
    """A probe process on one core, from :meth:`start` to :meth:`stop`."""

    def __init__(self, core: int, watch: Mapping[str, int] | None = None) -> None:
        self.core = core
        self.watch = dict(watch or {})
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        watched = [f"--watch={name}={pid}" for name, pid in self.watch.items()]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen.core_probe", f"--core={self.core}", *watched],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )

    def stop(self) -> ProbeReport:
        process = self._process
        assert process is not None, "start() first"
        process.terminate()
        out, _ = process.communicate(timeout=10)
        return ProbeReport.from_json(out)


# ---------------------------------------------------------------- the probe process


def run_delay_ns(pid: int) -> int:
    """Nanoseconds the process's main thread has spent runnable, waiting for a core."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])


def _become_realtime() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (PermissionError, OSError):
        return False
    return True


def probe(core: int, watch: Mapping[str, int]) -> ProbeReport:
    """Watch until SIGTERM (see the module's docstring)."""
    os.sched_setaffinity(0, {core})
    report = ProbeReport(core, _become_realtime(), waits={name: [] for name in watch})
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    delays = {name: run_delay_ns(pid) for name, pid in watch.items()}
    next_sample = time.perf_counter() + SAMPLE_S
    next_speed = time.perf_counter() + SPEED_EVERY_S
    while not stopping:
        due = time.perf_counter() + PERIOD_S
        time.sleep(PERIOD_S)
        woke = time.perf_counter()
        if (woke - due) * 1000 > STALL_MS:
            report.stalls.append((due, (woke - due) * 1000))
        if woke >= next_sample and watch:
            next_sample = woke + SAMPLE_S
            _sample_waits(report, watch, delays, woke)
        if woke >= next_speed:
            next_speed = woke + SPEED_EVERY_S
            report.speeds.append((woke, timed_ms(SPEED_STEPS)))
    return report


def _sample_waits(
    report: ProbeReport, watch: Mapping[str, int], delays: dict[str, int], now: float
) -> None:
    for name, pid in watch.items():
        try:
            delay = run_delay_ns(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        waited_ms = (delay - delays[name]) / 1e6
        delays[name] = delay
        if waited_ms >= 0.5:
            report.waits[name].append((now, round(waited_ms, 2)))


def _watch_arg(text: str) -> tuple[str, int]:
    name, _, pid = text.partition("=")
    return name, int(pid)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--core", type=int, required=True)
    parser.add_argument("--watch", type=_watch_arg, action="append", default=[])
    args = parser.parse_args(argv)
    print(probe(args.core, dict(args.watch)).to_json())


if __name__ == "__main__":
    main()
