"""The bounded outbound queue: a client that stops reading fills it, and only it."""

from __future__ import annotations

import asyncio

from heartline_hub.writer import Writer


async def test_frames_are_sent_in_order() -> None:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    writer = Writer(send, capacity=8, on_overflow=lambda: None)
    writer.start()
    for number in range(5):
        assert writer.put(bytes([number]))
    await writer.flush_and_stop(timeout=1.0)
    assert sent == [bytes([number]) for number in range(5)]


async def test_a_stuck_socket_overflows_the_queue_once() -> None:
    stuck, entered = asyncio.Event(), asyncio.Event()
    overflows: list[int] = []

    async def send(frame: bytes) -> None:
        del frame
        entered.set()
        await stuck.wait()

    writer = Writer(send, capacity=3, on_overflow=lambda: overflows.append(1))
    writer.start()
    assert writer.put(b"first")
    await entered.wait()
    accepted = [writer.put(b"x") for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert overflows == [1]
    await writer.stop()
