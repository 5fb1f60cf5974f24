"""Two hubs behind HAProxy (deploy/haproxy/haproxy.cfg), restarted one at a time.

Partners keep signalling through the load balancer while each hub in turn
gets SIGTERM (it drains: goaway, then closes) and comes back: every client
ends up reconnected, and nothing is lost or seen twice: with the hubs on
one Valkey, and on the local Valkey Cluster. HAProxy comes from
Debian's packages; where it is not installed, this test installs it
(apt-get, as root), and it is skipped, saying why, only where that cannot
be done.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

import heartline
from heartline_protocol import Event
from tests.support.couples import pair_up
from tests.support.hubs import HubProcess, hub_starter
from tests.support.servers import free_port

CONFIG = Path(__file__).parents[2] / "deploy" / "haproxy" / "haproxy.cfg"
QUICK = heartline.Options(backoff=heartline.Backoff(base=0.05, cap=0.5), call_timeout=30)
ROUNDS = 40


@pytest.fixture(scope="session")
def haproxy() -> str:
    found = shutil.which("haproxy")
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("HAProxy is not installed, and installing it needs apt-get as root")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "haproxy"]
    for attempt in (install, ["apt-get", "update"], install):
        done = subprocess.run(attempt, env=environment, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip
        if done.returncode == 0 and attempt is install and shutil.which("haproxy"):
            break
    found = shutil.which("haproxy")
    if found is None:
        pytest.skip(f"HAProxy could not be installed from Debian's packages: {done.stderr[-300:]}")
    return found


def loopback_config(tmp_path: Path, port: int, hub_ports: list[int]) -> Path:
    """The deployed configuration, on loopback ports and with quicker health checks."""
    text = CONFIG.read_text()
    text = text.replace("bind :8080", f"bind 127.0.0.1:{port}")
    text = text.replace("inter 2s fall 2 rise 2", "inter 200ms fall 1 rise 1")
    text = text.replace("maxconn 100000", "maxconn 4000")  # within a test process's file limit
    servers = iter(hub_ports)
    text = re.sub(
        r"server (hub\d) hub\d:8080", lambda m: f"server {m[1]} 127.0.0.1:{next(servers)}", text
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    return path


@dataclass
class Balanced:
    url: str
    """HAProxy's HTTP address."""
    hubs: list[HubProcess]
    start_hub: Callable[..., HubProcess]
    """Starts a hub on the same engine (for a restart: ``port=`` an old hub's)."""


@pytest.fixture(params=["valkey", "valkey-cluster"])
def balanced(haproxy: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Balanced]:
    """Two hubs on one Valkey or on the local cluster, and HAProxy in front of them."""
    engine = request.getfixturevalue("cluster_url" if "cluster" in request.param else "redis_url")
    with hub_starter(str(engine)) as start_hub:
        yield from _behind_haproxy(haproxy, tmp_path, start_hub)


def _behind_haproxy(
    haproxy: str, tmp_path: Path, start_hub: Callable[..., HubProcess]
) -> Iterator[Balanced]:
    hubs = [start_hub(), start_hub()]
    port = free_port()
    config = loopback_config(tmp_path, port, [hub.port for hub in hubs])
    proxy = subprocess.Popen([haproxy, "-f", str(config), "-db"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, proxy)
        yield Balanced(url, hubs, start_hub)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        if proxy.stderr is not None:
            proxy.stderr.close()


def _wait_until_ready(url: str, proxy: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proxy.poll() is None, proxy.stderr.read().decode() if proxy.stderr else ""
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("HAProxy did not become ready")


async def test_partners_keep_signalling_while_each_hub_restarts_behind_haproxy(
    http: aiohttp.ClientSession, balanced: Balanced
) -> None:
    url, hubs = balanced.url, balanced.hubs
    ws_url = url.replace("http://", "ws://") + "/v1/ws"
    couple = await pair_up(http, url)
    async with (
        heartline.connect(ws_url, couple.a.token, QUICK) as a,
        heartline.connect(ws_url, couple.b.token, QUICK) as b,
    ):
        seen: dict[str, list[Event]] = {"a": [], "b": []}
        a.on(None, seen["a"].append)
        b.on(None, seen["b"].append)

        async def keep_signalling() -> list[Event]:
            stored = []
            for n in range(ROUNDS):
                stored.append(await a.check_in(note=f"a{n}"))
                stored.append(await b.check_in(note=f"b{n}"))
                await asyncio.sleep(0.05)
            return stored

        signalling = asyncio.create_task(keep_signalling())
        for hub in hubs:
            await asyncio.sleep(0.5)
            assert await asyncio.to_thread(hub.terminate) == 0
            balanced.start_hub(port=hub.port)
        stored = await asyncio.wait_for(signalling, 120)
        version = max(event.seq for event in stored)
        await _until(lambda: a.state.version >= version and b.state.version >= version, 20)

        assert a.connected
        assert b.connected
    for who in ("a", "b"):
        seqs = [event.seq for event in seen[who]]
        assert seqs == sorted(set(seqs)), f"{who} saw an event twice or out of order"
    assert len({event.seq for event in stored}) == 2 * ROUNDS
    for who, partner in (("a", "b"), ("b", "a")):
        theirs = {event.seq for event in stored if event.body.note.startswith(partner)}  # type: ignore[union-attr]
        assert theirs <= {event.seq for event in seen[who]}, f"{who} missed a signal"


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
