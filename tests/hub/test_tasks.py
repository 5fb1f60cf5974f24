"""Stopping background tasks without eating anyone else's cancellation (tasks.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from heartline_hub.tasks import cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def _stubborn_then_done(stopped: asyncio.Event) -> None:
    """Takes a moment to stop, as a task finishing its work would."""
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.sleep(0.05)
        stopped.set()


async def test_a_cleanup_in_a_task_cancelled_before_still_waits_for_what_it_stops() -> None:
    """aiohttp runs the app's cleanup in a task it has cancelled once already."""
    stopped = asyncio.Event()

    async def cleanup() -> bool:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)  # the earlier cancellation, handled: cleanup goes on
        worker = asyncio.create_task(_stubborn_then_done(stopped))
        await asyncio.sleep(0)
        await cancel_and_wait(worker)
        return stopped.is_set()

    task = asyncio.create_task(cleanup())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task is True


async def test_the_callers_own_cancellation_while_waiting_is_passed_on() -> None:
    worker_stopped = asyncio.Event()
    waiting = asyncio.Event()

    async def stopper() -> None:
        worker = asyncio.create_task(_stubborn_then_done(worker_stopped))
        await asyncio.sleep(0)
        waiting.set()
        await cancel_and_wait(worker)

    task = asyncio.create_task(stopper())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nothing_to_stop_is_fine() -> None:
    await cancel_and_wait(None)
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait(done)
    forever = asyncio.create_task(_forever())
    await asyncio.sleep(0)
    await cancel_and_wait(forever)
    assert forever.cancelled()
