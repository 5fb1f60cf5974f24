"""What confirming each signal on a replica costs: the load run on a Valkey Cluster.

    .venv/bin/python -m bench.loadgen.replica_wait [--rate 1000] [--pairs 1000] [--repeats 3]

The same open loop as :mod:`bench.loadgen.run`, with the hub on a local
cluster of three primaries and one replica each (the test suite's,
``tests/support/cluster.py``), once answering a signal as soon as its
primary has it and once after ``WAIT 1`` (``--redis-wait-replicas 1``). The
hub runs on core 0; the six Valkey nodes and the generator share core 1, so
the figures are the cost on one machine, where a replica answers over
loopback: across machines add the network's round trip. Prints one JSON line
per run, then a table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Sequence
from typing import Any

from .cluster_stack import ClusterStack
from .run import measure, on_fresh_stack


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=10.0)
    args = parser.parse_args(argv)
    args.persistence, args.hubs, args.generator, args.gc_log = "off", 1, "python", False
    runs: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    cores = os.sched_getaffinity(0)
    for _ in range(args.repeats):
        for replicas, results in runs.items():
            os.sched_setaffinity(0, cores)  # each run pins this process to the load core
            result = on_fresh_stack(ClusterStack(replicas), lambda stack: measure(args, stack))
            result["wait_replicas"] = replicas
            print(json.dumps(result), flush=True)
            results.append(result)
    print(table(runs))


def table(runs: dict[int, list[dict[str, Any]]]) -> str:
    lines = [
        "| replicas confirming | partner p50 | partner p99 | result p50 | result p99 | verdicts |",
        "|---|---|---|---|---|---|",
    ]
    for replicas, results in runs.items():

        def median(figure: str, p: str, results: list[dict[str, Any]] = results) -> str:
            return f"{statistics.median(r[figure][p] for r in results):.2f} ms"

        verdicts = ", ".join(r["verdict"] for r in results)
        lines.append(
            f"| {replicas} | {median('partner_ms', 'p50')} | {median('partner_ms', 'p99')} "
            f"| {median('result_ms', 'p50')} | {median('result_ms', 'p99')} | {verdicts} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
