"""The hub listens with the backlog its setting asks for (cli.py, ``--listen-backlog``).

A reconnect storm arrives all at once; with aiohttp's default backlog of
128 the kernel dropped most of 5,000 simultaneous SYNs (BENCHMARKS.md). The
backlog of a listening socket is what ``ss`` shows as its Send-Q.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from tests.support.hubs import HubProcess


def listen_backlog(port: int) -> int:
    shown = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    assert shown[0] == "LISTEN", shown
    return int(shown[2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read a backlog")
def test_the_hub_listens_with_the_backlog_it_is_given(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub(listen_backlog="77")
    assert listen_backlog(hub.port) == 77
