"""Valkey's background writes, read from its log and put on the run's clock."""

from __future__ import annotations

import math
from datetime import datetime

from bench.loadgen.generator import Phases
from bench.loadgen.run import writes_in_run
from bench.loadgen.valkey_log import background_writes

LOG = """\
16095:M 07 Dec 2026 12:11:40.386 * Ready to accept connections tcp
16095:M 07 Dec 2026 12:11:40.475 * Creating AOF incr file appendonly.aof.2.incr.aof
16095:M 07 Dec 2026 12:11:40.477 * Background append only file rewriting started by pid 16101
16101:C 07 Dec 2026 12:11:40.477 * Successfully created the temporary AOF base file
16101:C 07 Dec 2026 12:11:40.478 * Background saving started by pid 16101
16095:M 07 Dec 2026 12:11:40.727 * Background AOF rewrite terminated with success
16095:M 07 Dec 2026 12:11:41.000 * Background saving started by pid 16102
"""


def _wall(stamp: str) -> float:
    return datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp()


def test_a_rewrite_is_placed_on_the_runs_clock_with_the_time_until_it_was_reaped() -> None:
    offset = 1000.0 - _wall("07 Dec 2026 12:11:40.000")

    writes = background_writes(LOG, offset)

    assert writes[0][1:] == ("aof_rewrite", 250.0)
    assert math.isclose(writes[0][0], 1000.477, abs_tol=1e-6)


def test_a_write_still_running_has_no_end_and_the_childs_own_lines_are_not_its_start() -> None:
    writes = background_writes(LOG, 0.0)

    assert [kind for _, kind, _ in writes] == ["aof_rewrite", "snapshot"]
    assert writes[1][2] is None
    assert math.isclose(writes[1][0], _wall("07 Dec 2026 12:11:41.000"), abs_tol=1e-6)


def test_only_the_writes_from_the_schedules_start_to_the_drains_end_are_the_runs() -> None:
    writes = [(99.0, "aof_rewrite", 10.0), (108.6, "aof_rewrite", 412.3), (126.0, "snapshot", 5.0)]

    assert writes_in_run(writes, 100.0, Phases(5.0, 10.0, 10.0)) == [[8.6, "aof_rewrite", 412.3]]
