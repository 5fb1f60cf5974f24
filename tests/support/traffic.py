"""A device that keeps signalling, as a real client does through a database fault."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from heartline_protocol import CheckIn, ErrorCode, Event

from .devices import Device, HubError

RETRY_PAUSE_S = 0.1


@dataclass
class Signalled:
    """What one device sent: the events the hub acknowledged, and how often it was told to retry."""

    acknowledged: list[Event] = field(default_factory=list)
    unavailable: int = 0

    @property
    def notes(self) -> list[str]:
        return [str(getattr(event.body, "note", "")) for event in self.acknowledged]


async def keep_signalling(
    device: Device, until: asyncio.Event, *, name: str, every_s: float = 0.05
) -> Signalled:
    """Send check-ins ``<name>-1``, ``<name>-2``... until ``until`` is set.

    A check-in answered ``unavailable`` is sent again with the same id after
    a pause until the hub answers it, as the protocol asks of clients (SPEC.md
    7.5): the id makes the resend safe. Any other error fails the test.
    """
    signalled = Signalled()
    number = 0
    while not until.is_set():
        number += 1
        signalled.acknowledged.append(await until_answered(device, f"{name}-{number}", signalled))
        await asyncio.sleep(every_s)
    return signalled


async def until_answered(device: Device, note: str, signalled: Signalled | None = None) -> Event:
    """A check-in ``note``, sent again with the same id while the hub answers ``unavailable``."""
    signalled = signalled or Signalled()
    while True:
        try:
            return await device.signal(CheckIn(note=note), id=note)
        except HubError as error:
            if error.code != ErrorCode.UNAVAILABLE:
                raise
            signalled.unavailable += 1
            await asyncio.sleep(RETRY_PAUSE_S)
