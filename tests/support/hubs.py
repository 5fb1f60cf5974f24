"""Hub processes on loopback ports, as an operator would run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import aiohttp

from .servers import free_port

__all__ = ["HubProcess"]

TEST_SETTINGS = {
    "min_space_seconds": "1",
    "space_ending_seconds": "1",
    "timer_poll_ms": "50",
    "timer_lease_ms": "1000",
    "heartbeat_ms": "15000",
    "drain_timeout_s": "3",
    "log_level": "info",
    "join_attempts_per_minute": "1000",
}
"""Short spaces and fast timers, so that a test can watch a space end in seconds.

Wrong invite codes are counted per address in the shared Redis; tests that
try wrong codes on purpose must not make another test's join fail. The test
of that limit starts a hub of its own with a low one and its own address.
"""


class HubProcess:
    """``python -m heartline_hub`` on a free port; stopped, killed or drained by the test."""

    def __init__(self, redis_url: str, *, port: int | None = None, **settings: str) -> None:
        self.redis_url = redis_url
        self.port = port or free_port()
        self.settings = {**TEST_SETTINGS, **settings}
        self._log: IO[str] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            "w+", prefix="hl-hub-", suffix=".log", delete=False
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def start(self, timeout: float = 15.0) -> HubProcess:
        flags = [f"--{name.replace('_', '-')}={value}" for name, value in self.settings.items()]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "heartline_hub", f"--port={self.port}",
             f"--redis-url={self.redis_url}", *flags],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"hub exited with {self._process.returncode}:\n{self.logs()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"hub on port {self.port} not ready:\n{self.logs()}")

    @property
    def running(self) -> bool:
        """Whether the process started by :meth:`start` is still the one running."""
        return self._process is not None and self._process.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: the hub dies at once, its connections cut without a word."""
        self._signal(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the hub freezes, its sockets open but silent, like a hung machine."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def begin_drain(self) -> None:
        """SIGTERM without waiting: the hub drains (goaway, then closes) while the test goes on."""
        self._signal(signal.SIGTERM)

    def terminate(self) -> int:
        """SIGTERM: the hub drains and exits; its exit code."""
        self._signal(signal.SIGTERM)
        assert self._process is not None
        return self._process.wait(timeout=30)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def logs(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def _signal(self, number: signal.Signals) -> None:
        assert self._process is not None
        self._process.send_signal(number)
        if number is signal.SIGKILL:
            self._process.wait(timeout=10)


@contextmanager
def hub_starter(default_url: str) -> Iterator[Callable[..., HubProcess]]:
    """``start(url=None, port=None, **settings)`` starts a hub; all are stopped at the end."""
    started: list[HubProcess] = []

    def start(url: str | None = None, *, port: int | None = None, **settings: str) -> HubProcess:
        hub = HubProcess(url or default_url, port=port, **settings)
        started.append(hub)
        return hub.start()

    try:
        yield start
    finally:
        for hub in started:
            hub.stop()


async def metrics_of(http: aiohttp.ClientSession, hub: HubProcess) -> dict[str, float]:
    """The hub's /metrics as ``{'name{labels}': value}``."""
    async with http.get(f"{hub.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
