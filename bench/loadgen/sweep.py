"""The load sweep: every rate, three times, each run on a fresh hub and a fresh Valkey.

    python -m bench.loadgen.sweep [--rates 500,1000,...] [--repeats 3] [--pairs 1000]
        [--persistence on|off] [--hubs 1|2] [--generator python|node] [--out sweep.jsonl]

Each run is ``python -m bench.loadgen.run`` in a process of its own, which
starts its own hub and its own Valkey in a fresh folder, so no run inherits
another's data, connections or heap. Every result is appended to ``--out``
as one JSON line; the summary gives, per rate, the verdicts and the median
of each figure over the runs, and the highest rate that passed ``--repeats``
times in a row: the maximum sustainable rate by the definition of issue 6.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "max_sustainable", "summary"]

RATES = (500, 1000, 2000, 3000, 5000, 7500, 10000)


def run_once(
    rate: int, pairs: int, persistence: str, hubs: int = 1, generator: str = "python"
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen.run", f"--rate={rate}", f"--pairs={pairs}",
         f"--persistence={persistence}", f"--hubs={hubs}", f"--generator={generator}"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    return {"rate": rate, "verdict": "error", "reasons": [done.stderr.strip()[-500:]]}


def max_sustainable(results: Sequence[dict[str, Any]], repeats: int) -> float | None:
    """The highest rate whose runs include ``repeats`` passes in a row."""
    best = None
    for rate in sorted({r["rate"] for r in results}):
        verdicts = [r["verdict"] for r in results if r["rate"] == rate]
        streaks = "".join("p" if v == "pass" else "." for v in verdicts)
        if "p" * repeats in streaks:
            best = rate
    return best


def _median(results: Sequence[dict[str, Any]], *path: str) -> float | None:
    values = []
    for result in results:
        value: Any = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return round(statistics.median(values), 2) if values else None


def summary(results: Sequence[dict[str, Any]], repeats: int) -> str:
    lines = [
        "| rate/s | verdicts | partner p50 / p99 / p99.9 ms | result p99 ms | send lag p99 ms "
        "| hub CPU | Valkey CPU | generator CPU | lost / undelivered at the end | failed |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in sorted({r["rate"] for r in results}):
        runs = [r for r in results if r["rate"] == rate]
        ok = [r for r in runs if "partner_ms" in r]

        def pct(name: str, runs: list[dict[str, Any]] = ok) -> str:
            value = _median(runs, name)
            return "-" if value is None else f"{value:.0%}"

        lines.append(
            f"| {rate:g} | {', '.join(r['verdict'] for r in runs)} "
            f"| {_median(ok, 'partner_ms', 'p50')} / {_median(ok, 'partner_ms', 'p99')} / "
            f"{_median(ok, 'partner_ms', 'p99.9')} | {_median(ok, 'result_ms', 'p99')} "
            f"| {_median(ok, 'send_lag_ms', 'p99')} | {pct('hub_cpu')} | {pct('valkey_cpu')} "
            f"| {pct('generator_cpu')} | {sum(r.get('lost', 0) for r in ok)} / "
            f"{sum(r.get('undelivered_at_end', 0) for r in ok)} "
            f"| {sum(r.get('failed', 0) for r in ok)} |"
        )
    lines.append(f"\nmaximum sustainable rate: {max_sustainable(results, repeats)} signals/s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--persistence", choices=["on", "off"], default="on")
    parser.add_argument("--hubs", type=int, choices=[1, 2], default=1)
    parser.add_argument("--generator", choices=["python", "node"], default="python")
    parser.add_argument("--out", type=Path, default=Path("sweep.jsonl"))
    args = parser.parse_args(argv)
    results = []
    for rate in (int(rate) for rate in args.rates.split(",")):
        for attempt in range(args.repeats):
            result = run_once(rate, args.pairs, args.persistence, args.hubs, args.generator)
            results.append(result)
            with args.out.open("a") as out:
                out.write(json.dumps(result) + "\n")
            print(f"rate {rate} run {attempt + 1}: {result['verdict']} {result['reasons']}")
    print(summary(results, args.repeats))


if __name__ == "__main__":
    main()
