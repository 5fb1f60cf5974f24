"""Stopping background tasks without swallowing anyone else's cancellation."""

from __future__ import annotations

import asyncio

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it to end.

    ``contextlib.suppress(CancelledError)`` around the wait would also eat a
    cancellation of the *caller* (aiohttp cancels handlers at shutdown), so
    the caller would carry on as if nothing happened; this re-raises it.
    """
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
