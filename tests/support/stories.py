"""Small helpers for the end-to-end stories in tests/e2e: reading a pair's log, timing, order.

They only read what a device already receives; every check a story makes
stays in the story itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence

from heartline_protocol import MAX_SYNC_LIMIT, Event, HubFrame, Result, Snapshot, Sync

from .devices import Device

__all__ = ["caught_up", "nothing_arrives", "presence_of", "read_log", "seqs", "since"]

_sync_ids = itertools.count(1)


def seqs(events: Iterable[Event]) -> list[int]:
    return [event.seq for event in events]


def since(started: float) -> float:
    """Seconds elapsed on the event loop's clock since ``started`` (``loop.time()``)."""
    return asyncio.get_running_loop().time() - started


async def read_log(device: Device, after: int = 0) -> list[Event]:
    """The pair's whole stored log after ``after``, read page by page with ``sync``.

    Use a device of its own: the events of each page are the ones that arrive
    between the ``sync`` and its ``result`` (frames the device had kept before
    are left alone), and they must be exactly ``after + 1 .. last``, in order.
    A live event can arrive among them (a presence change the device's own
    connection made): its copy in the page is the same frame, and the page is
    read from each event's last copy.
    """
    log: list[Event] = []
    while True:
        arrived, result = await _sync_page(device, after)
        assert result.last is not None
        page = _replayed(arrived, result.last)
        assert seqs(page) == list(range(after + 1, result.last + 1)), (after, seqs(arrived))
        log.extend(page)
        after = result.last
        if not result.more:
            return log


def _replayed(arrived: list[Event], last: int) -> list[Event]:
    """The events up to ``last``, each at its last arrival; copies must be the same event."""
    latest: dict[int, int] = {}
    for position, event in enumerate(arrived):
        if event.seq in latest:
            assert arrived[latest[event.seq]] == event, f"two different events {event.seq}"
        latest[event.seq] = position
    return [
        arrived[position] for position in sorted(latest.values()) if arrived[position].seq <= last
    ]


async def _sync_page(device: Device, after: int) -> tuple[list[Event], Result]:
    request = f"log-{next(_sync_ids)}"
    kept = {id(frame) for frame in device.inbox}
    page: list[Event] = []

    def answers(frame: HubFrame) -> bool:
        if isinstance(frame, Snapshot):
            raise AssertionError(f"sync after {after} got a snapshot: history lost")
        if isinstance(frame, Event) and id(frame) not in kept:
            page.append(frame)
        return isinstance(frame, Result) and frame.id == request

    await device.send(Sync(request, after=after, limit=MAX_SYNC_LIMIT))
    result = await device.receive(answers)
    assert isinstance(result, Result)
    return page, result


async def presence_of(device: Device, member: str, timeout: float = 5.0) -> Event:
    """The next ``presence`` event about ``member`` that ``device`` receives."""
    frame = await device.receive(
        lambda f: isinstance(f, Event) and f.kind == "presence" and f.member == member, timeout
    )
    assert isinstance(frame, Event)
    return frame


async def caught_up(device: Device, seq: int, timeout: float = 5.0) -> None:
    """Wait until ``device`` has received the event ``seq`` (or a later one)."""
    async with asyncio.timeout(timeout):
        while not any(event.seq >= seq for event in device.events):
            await device.next_event(timeout=timeout)


async def nothing_arrives(
    devices: Sequence[Device], match: Callable[[HubFrame], bool], seconds: float
) -> None:
    """Assert that no device receives a frame ``match`` accepts within ``seconds``."""

    async def watch(device: Device) -> None:
        try:
            frame = await device.receive(match, timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {frame}")

    await asyncio.gather(*(watch(device) for device in devices))
