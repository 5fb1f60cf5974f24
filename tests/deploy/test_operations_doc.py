"""docs/operations.md sizes from measured figures only, and names real metrics."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY

import heartline_hub.metrics  # noqa: F401 - registers the hub's metrics

ROOT = Path(__file__).parents[2]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
BENCHMARKS = (ROOT / "BENCHMARKS.md").read_text()


def measured_inputs() -> list[str]:
    section = OPERATIONS.split("## Measured inputs", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    return [cells[2].strip() for cells in rows[1:] if len(cells) > 3 and cells[2].strip()]


def test_every_measured_input_is_a_figure_of_benchmarks_md() -> None:
    figures = measured_inputs()
    assert len(figures) == 9
    missing = [figure for figure in figures if figure not in BENCHMARKS]
    assert missing == []


def test_every_metric_named_is_one_the_hub_exports() -> None:
    families = list(REGISTRY.collect())
    exported = {metric.name for metric in families}
    exported |= {f"{metric.name}_total" for metric in families if metric.type == "counter"}
    named = set(re.findall(r"`(heartline_[a-z_]+)", OPERATIONS))
    assert named
    assert named <= exported, sorted(named - exported)
