"""The Node.js load generator (``bench/loadgen/node``) driven from the Python runner.

At 5,000 signals/s the Python generator and Valkey saturate the core they
share, and the run is invalid by the generator, not the hub.
``node/generator.mjs`` runs the same workload as :mod:`bench.loadgen.generator`
at less CPU a frame; this module starts it pinned to the load core, feeds it
the run's config, runs the runner's sampler once the schedule's start is
fixed, and turns its last line into a :class:`~bench.loadgen.generator.Recorder`,
so that run.py's ``summarize()`` and ``verdict()`` serve both generators
unchanged.

The Node process reports its times in seconds of CLOCK_MONOTONIC, the clock
of :func:`time.perf_counter` on Linux, so they compare with this process's
readings directly; :meth:`NodeGenerator.run` checks that on every run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .generator import Phases, Recorder, Sampler

__all__ = ["NODE_DIR", "NodeGenerator", "NodeProcess", "ensure_installed", "recorder_from"]

NODE_DIR = Path(__file__).with_name("node")
SCRIPT = NODE_DIR / "generator.mjs"
LINE_LIMIT = 1 << 30
"""The last line carries four times per signal: about 5 MB at 5,000/s for 15 s."""
CLOCK_TOLERANCE_S = 1.0
"""The start line's time must be this close to our own clock, or the clocks differ."""
STOP_TIMEOUT_S = 5.0


def ensure_installed() -> str:
    """The path of ``node``, once ``npm ci`` has installed the generator's packages.

    ``npm ci`` installs exactly what package-lock.json pins; it runs only when
    ``node_modules`` is missing, so a run does not reach the registry.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "--generator node needs Node.js 18+ and npm on PATH "
            "(e.g. `apt-get install nodejs npm`); or use --generator python"
        )
    if not (NODE_DIR / "node_modules").is_dir():
        print(f"running npm ci in {NODE_DIR}", file=sys.stderr)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, stdout=sys.stderr
        )
    return node


def _floats(done: dict[str, Any], name: str, capacity: int) -> array[float]:
    values = array("d", (float(v) for v in done[name]))
    if len(values) != capacity:
        raise ValueError(f"generator.mjs: {name} has {len(values)} values, not {capacity}")
    return values


def recorder_from(done: dict[str, Any]) -> Recorder:
    """A Recorder from generator.mjs's last line (times already on our clock, -1 for NOT_SET)."""
    capacity = int(done["capacity"])
    rec = Recorder(capacity)
    rec.due = _floats(done, "due", capacity)
    rec.sent = _floats(done, "sent", capacity)
    rec.result = _floats(done, "result", capacity)
    rec.delivered = _floats(done, "delivered", capacity)
    rec.failed = {int(k): str(code) for k, code in done["failed"].items()}
    rec.duplicates = int(done["duplicates"])
    rec.misrouted = int(done["misrouted"])
    rec.unknown_results = int(done["unknown_results"])
    rec.refused_kinds = {str(k): int(v) for k, v in done["refused_kinds"].items()}
    rec.kinds_sent = {str(k): int(v) for k, v in done["kinds_sent"].items()}
    rec.close_codes = {str(k): int(v) for k, v in done["close_codes"].items()}
    return rec


class NodeProcess:
    """One Node.js script of ``node/`` pinned to a core, spoken to in JSON lines.

    The script reads its config from a file, writes one JSON line per
    ``event`` on stdout and reads commands, one JSON line each, on stdin.
    Used as ``async with`` so that the process never outlives the run,
    whatever fails.
    """

    def __init__(self, script: str, config: dict[str, Any], core: int) -> None:
        self.script = NODE_DIR / script
        self.config = config
        self.core = core
        self.folder = tempfile.TemporaryDirectory(prefix="hl-loadgen-node-")
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()
        self.folder.cleanup()

    @property
    def pid(self) -> int:
        """The Node process's pid (``taskset`` execs node, so it is node's own)."""
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        node = ensure_installed()
        config = Path(self.folder.name) / "config.json"
        config.write_text(json.dumps(self.config))
        self.process = await asyncio.create_subprocess_exec(
            "taskset", "-c", str(self.core), node, str(self.script), str(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        )  # fmt: skip

    async def line(self, event: str) -> dict[str, Any]:
        """The next stdout line, which must be the ``event`` line."""
        assert self.process is not None
        assert self.process.stdout is not None
        raw = await self.process.stdout.readline()
        if not raw:
            code = await self.process.wait()
            raise RuntimeError(
                f"{self.script.name} exited with {code} before its {event!r} line "
                "(its stderr above)"
            )
        line: dict[str, Any] = json.loads(raw)
        if line.get("event") != event:
            raise RuntimeError(f"{self.script.name}: expected {event!r}, got {raw[:200]!r}")
        return line

    async def command(self, command: dict[str, Any]) -> None:
        """One command line on the script's stdin."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def finish(self) -> None:
        """Wait for the script's own exit, which must be a success."""
        assert self.process is not None
        if await self.process.wait() != 0:
            raise RuntimeError(f"{self.script.name} exited with {self.process.returncode}")

    async def _stop(self) -> None:
        """Terminate the process if it still runs (a failed run), by its pid."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


class NodeGenerator(NodeProcess):
    """One run of generator.mjs: :meth:`connect`, then :meth:`run`; stopped on leaving."""

    def __init__(
        self,
        ws_urls: list[str],
        tokens: list[str],
        rate: float,
        phases: Phases,
        core: int,
        *,
        diagnose: bool = False,
    ) -> None:
        """``diagnose``: the process also reports its own event-loop stalls and GC passes."""
        super().__init__(
            "generator.mjs",
            {
                "ws_urls": ws_urls,
                "tokens": tokens,
                "rate": rate,
                "warmup_s": phases.warmup_s,
                "measure_s": phases.measure_s,
                "drain_s": phases.drain_s,
                "diagnose": diagnose,
            },
            core,
        )
        self.stalls: list[tuple[float, float]] = []
        """(clock, ms) of the generator's stalls and GC passes over 3 ms, when diagnosing."""

    async def connect(self) -> tuple[float, int, int]:
        """Start the process; (connect seconds, handshakes refused, clients connected)."""
        await self.start()
        line = await self.line("connected")
        return float(line["connect_s"]), int(line["refused"]), int(line["connected"])

    async def run(self, sampler: Sampler | None = None) -> tuple[Recorder, float]:
        """The load and the drain; the recorder and the schedule's start time.

        ``sampler`` runs alongside from the moment the start is known, as in
        :func:`bench.loadgen.generator.run_load`.
        """
        start = float((await self.line("start"))["start"])
        if abs(start - time.perf_counter()) > CLOCK_TOLERANCE_S:
            raise RuntimeError(
                f"generator.mjs's clock ({start:.3f} s) is not time.perf_counter() "
                f"({time.perf_counter():.3f} s): its times cannot be compared with ours"
            )
        side = asyncio.create_task(sampler(start)) if sampler is not None else None
        done = await self.line("done")
        self.stalls = [(float(at), float(ms)) for at, ms in done.get("stalls", [])]
        if side is not None:
            await side
        await self.finish()
        return recorder_from(done), start
