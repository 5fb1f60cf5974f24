"""Stopping background tasks without swallowing anyone else's cancellation."""

from __future__ import annotations

import asyncio

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it to end.

    ``contextlib.suppress(CancelledError)`` around the wait would also eat a
    cancellation of the *caller* (aiohttp cancels handlers at shutdown), so
    the caller would carry on as if nothing happened; this re-raises it.
    Only a cancellation requested while waiting counts: aiohttp runs the
    app's cleanup in a task it has already cancelled once, and that old,
    already delivered request must not cut the cleanup short.
    """
    if task is None or task.done():
        return
    current = asyncio.current_task()
    requested_before = 0 if current is None else current.cancelling()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > requested_before:
            raise
