"""The bounded outbound queue of one connection (SPEC.md 7.8).

Fan-out never waits on a client: it puts frames here and moves on. One
writer task per connection drains the queue into the socket. When a client
stops reading, the queue fills and the writer reports the overflow, so the
session can close it with ``slow_consumer``: the client resumes later and
loses nothing, while every other client is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from .tasks import cancel_and_wait

__all__ = ["Writer"]


class Writer:
    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        capacity: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self._send = send
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=capacity)
        self._on_overflow = on_overflow
        self._overflowed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, frame: bytes) -> bool:
        """Queue a frame; False (and the overflow callback, once) when the queue is full."""
        if self._overflowed:
            return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._overflowed = True
            self._on_overflow()
            return False
        return True

    async def flush_and_stop(self, timeout: float) -> None:
        """Send what is queued (within ``timeout``), then stop the writer."""
        if self._task is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except (TimeoutError, ConnectionError):
            await self.stop()

    async def stop(self) -> None:
        task, self._task = self._task, None
        with contextlib.suppress(ConnectionError):
            await cancel_and_wait(task)

    async def _run(self) -> None:
        while (frame := await self._queue.get()) is not None:
            await self._send(frame)
