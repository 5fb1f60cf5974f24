"""The bounded outbound path of one connection (SPEC.md 7.8).

Fan-out never waits on a client. A frame for a client whose socket keeps up
goes to the socket in the same turn of the event loop, as a WebSocket frame
(no task switch, no queue); the frames of one turn leave in one write, so a
signal's result and its event cost the sender's socket one system call,
not two. A frame for a client
whose socket has a backlog (the kernel's buffer and the transport's are
full) waits in a bounded queue, which one writer task drains with the
WebSocket's own flow control. When a client stops reading, the queue
fills and the writer reports the overflow, so the session can close it
with ``slow_consumer``: the client resumes later and loses nothing, while
every other client is unaffected. Frames never overtake each other: once
anything is queued, everything after it is queued too.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable

from .tasks import cancel_and_wait

__all__ = ["BACKLOG_BYTES", "Writer", "binary_frame"]

BACKLOG_BYTES = 64 * 1024
"""A socket with more than this waiting in the transport counts as backlogged."""
_BINARY_FINAL = 0x82


def binary_frame(payload: bytes) -> bytes:
    """One unmasked, final, binary WebSocket frame (RFC 6455 5.2), as a server sends it."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", _BINARY_FINAL, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", _BINARY_FINAL, 126, length)
    else:
        header = struct.pack("!BBQ", _BINARY_FINAL, 127, length)
    return header + payload


class Writer:
    """The outbound path; its queue and task exist only while a socket has a backlog.

    Most connections never have one, so an idle connection carries neither.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        capacity: int,
        on_overflow: Callable[[], None],
        transport: asyncio.Transport | None = None,
    ) -> None:
        """``send`` sends one message the slow way; ``transport`` (if any) takes frames at once."""
        self._send = send
        self._transport = transport
        self._capacity = capacity
        self._queue: list[bytes] = []
        """At most ``capacity`` frames; a list, as an empty one costs 56 bytes and a deque 760."""
        self._on_overflow = on_overflow
        self._started = False
        self._overflowed = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._burst: list[bytes] | None = None
        """WebSocket frames of this turn, written together at its end; None when there are none."""
        self._loop = asyncio.get_running_loop()
        """Kept: ``asyncio.get_running_loop()`` costs a ``getpid`` system call each time
        (CPython 3.11 checks for a fork), 7% of an idle hub's CPU when called per frame."""

    def start(self) -> None:
        """From now on frames are sent (before, they wait for it)."""
        self._started = True
        if self._queue:
            self._drain_in_background()

    def put(self, frame: bytes) -> bool:
        """Send or queue a frame; False (and the overflow callback, once) when the queue is full."""
        if self._overflowed or self._stopping:
            return False
        if self._burst is not None:
            self._burst.append(binary_frame(frame))
            return True
        if self._can_write_now():
            self._burst = [binary_frame(frame)]
            self._loop.call_soon(self._write_burst)
            return True
        if len(self._queue) >= self._capacity:
            self._overflowed = True
            self._on_overflow()
            return False
        self._queue.append(frame)
        if self._started:
            self._drain_in_background()
        return True

    def put_alone(self, frame: bytes) -> bool:
        """As :meth:`put`, for a frame that is likely its turn's only one (a pong).

        Written at once when nothing waits before it: deferring it to the end
        of the turn would cost an idle hub a second turn of the event loop
        for every ping it answers.
        """
        transport = self._transport
        if self._burst is not None or self._overflowed or self._stopping:
            return self.put(frame)
        if transport is None or not self._can_write_now():
            return self.put(frame)
        transport.write(binary_frame(frame))
        return True

    async def flush_and_stop(self, timeout: float) -> None:
        """Send what is queued (within ``timeout``), then stop the writer."""
        self._stopping = True
        self._write_burst()
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (TimeoutError, ConnectionError):
            await self.stop()

    async def stop(self) -> None:
        self._stopping = True
        self._burst = None
        task, self._task = self._task, None
        with contextlib.suppress(ConnectionError):
            await cancel_and_wait(task)

    def _can_write_now(self) -> bool:
        """Whether the socket keeps up and nothing waits in the queue before a new frame."""
        transport = self._transport
        return not (
            transport is None
            or not self._started
            or self._task is not None
            or self._queue
            or transport.is_closing()
            or transport.get_write_buffer_size() > BACKLOG_BYTES
        )

    def _write_burst(self) -> None:
        burst, self._burst = self._burst, None
        if burst and self._transport is not None and not self._transport.is_closing():
            self._transport.write(burst[0] if len(burst) == 1 else b"".join(burst))

    def _drain_in_background(self) -> None:
        if self._task is None:
            self._task = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        """Send the queue with the WebSocket's flow control; end once it is empty.

        A connection that breaks meanwhile takes what is left with it: the
        session ends, and the device resumes from the log.
        """
        try:
            while self._queue:
                await self._send(self._queue.pop(0))
        except ConnectionError:
            self._stopping = True
            self._queue.clear()
        finally:
            if self._task is asyncio.current_task():
                self._task = None
