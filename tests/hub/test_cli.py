"""`make run`: no Redis given, the hub brings its own, and keeps pairs across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import free_port


class EmbeddedHub:
    """``python -m heartline_hub`` with no REDIS_URL, as ``make run`` starts it."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = data_dir / "hub.log"
        with self._log.open("w") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "heartline_hub", f"--port={self.port}",
                 f"--data-dir={data_dir}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(self.logs())

    def logs(self) -> list[dict[str, str]]:
        lines = self._log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> int:
        self._process.terminate()
        return self._process.wait(timeout=30)

    def post(self, path: str, body: dict[str, object]) -> dict[str, str]:
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.load(response))

    def devices(self, token: str) -> int:
        request = urllib.request.Request(
            f"{self.url}/v1/devices", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)


@pytest.mark.timeout(90)
def test_the_hub_starts_its_own_valkey_says_where_and_keeps_pairs(tmp_path: Path) -> None:
    hub = EmbeddedHub(tmp_path)
    events = {line["event"]: line for line in hub.logs()}
    assert events["embedded_valkey_started"]["redis"].startswith("redis://127.0.0.1:")
    assert events["hub_listening"]["url"] == hub.url
    assert events["hub_listening"]["websocket"] == f"ws://127.0.0.1:{hub.port}/v1/ws"
    created = hub.post("/v1/pairs", {"device": {"kind": "cli"}})
    assert hub.stop() == 0
    assert (tmp_path / "valkey").is_dir()

    again = EmbeddedHub(tmp_path)
    assert again.devices(created["token"]) == 200, "the pair survived the restart"
    assert again.stop() == 0
