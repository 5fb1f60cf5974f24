"""Timers that keep the promise of a space: ``space_ending`` and ``space_ended``.

A ``need_space`` schedules its two timers *before* the signal is stored, in
one of a few sharded sorted sets (``hl:timers:{N}``), each timer named
``pair|member|until|kind``. Any hub may claim a due timer (claim_timers.lua
moves it to the end of a lease, so a hub that dies after claiming leaves it
to be claimed again) and fires it by recording the event through the
journal. Firing is idempotent on the pair's state: the event is recorded
only while the member is still in that very space (same ``until``) and, for
``space_ending``, only if its reminder has not fired yet. So a timer claimed
twice, a timer whose signal was never stored and a timer after ``im_back``
all fire at most once, and usually exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from typing import TYPE_CHECKING

import structlog

from . import decisions
from .beat import until_beat
from .clock import now_ms
from .journal import Decide, PairGone
from .store import StoreUnavailable, TimersAhead
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    from .node import Node

__all__ = ["Timers", "shard_for"]

log = structlog.get_logger(__name__)

CLAIM_BATCH = 64
ENDING, ENDED = "ending", "ended"


class Timers:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._settings = node.settings
        self._task: asyncio.Task[None] | None = None
        self._sooner = asyncio.Event()
        """Set when this hub schedules a timer due before its next look."""
        self._next_look_ms = 0

    def shard_of(self, pair_id: str) -> int:
        return shard_for(pair_id, self._settings.timer_shards)

    async def schedule(self, pair_id: str, member: str, until: int, duration_s: int) -> None:
        due = self._due(pair_id, member, until, duration_s)
        await self._node.store.schedule_timers(self.shard_of(pair_id), due)
        self._look_by(min(due.values()))

    def schedule_ahead(
        self, pair_id: str, member: str, until: int, duration_s: int
    ) -> TimersAhead | None:
        """Queue a space's timers ahead of its signal's append, to share its round trip;
        None where that would not keep them first (then :meth:`schedule`)."""
        due = self._due(pair_id, member, until, duration_s)
        ahead = self._node.store.schedule_timers_ahead(self.shard_of(pair_id), due)
        if ahead is not None:
            self._look_by(min(due.values()))
        return ahead

    def _look_by(self, due: int) -> None:
        """A timer this hub scheduled is due at ``due``: look for it then, if not sooner."""
        if due < self._next_look_ms:
            self._sooner.set()

    def _due(self, pair_id: str, member: str, until: int, duration_s: int) -> dict[str, int]:
        lead_s = self._settings.space_ending_seconds
        due = {_name(pair_id, member, until, ENDED): until}
        if duration_s > lead_s:
            due[_name(pair_id, member, until, ENDING)] = until - lead_s * 1000
        return due

    async def cancel(self, pair_id: str, member: str, until: int) -> None:
        """Forget a space's timers (after im_back); a timer missed here fires as a no-op.

        So nothing waits for the removal where it can be queued without
        waiting (one server); its failure is logged by the store.
        """
        names = [_name(pair_id, member, until, kind) for kind in (ENDING, ENDED)]
        shard = self.shard_of(pair_id)
        if not self._node.store.cancel_timers_unawaited(shard, *names):
            await self._node.store.cancel_timers(shard, *names)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        """Look for due timers when the earliest known one is due, and at least every
        ``timer_poll_ms`` (timers another hub scheduled, leases that ran out)."""
        longest_wait_s = self._settings.timer_poll_ms / 1000
        shards = range(self._settings.timer_shards)
        while True:
            next_due = None
            try:
                next_due = await self._sweep(shards)
            except StoreUnavailable as error:
                log.warning("timers_unavailable", error=str(error))
            wait_s = until_beat(longest_wait_s, asyncio.get_running_loop().time())
            if next_due is not None:
                wait_s = min(wait_s, max(0.0, (next_due - now_ms()) / 1000))
            self._next_look_ms = now_ms() + round(wait_s * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sooner.wait(), wait_s)
            self._sooner.clear()

    async def _sweep(self, shards: range) -> int | None:
        """Claim the due timers of every shard in one round trip, then fire each shard's
        in order; shards with timers to fire fire side by side. When the next timer
        left is due."""
        now = now_ms()
        lease_end = now + self._settings.timer_lease_ms
        claimed, next_due = await self._node.store.claim_timers_of(
            shards, now, lease_end, CLAIM_BATCH
        )
        due = [(shard, timers) for shard, timers in zip(shards, claimed, strict=True) if timers]
        if due:
            await asyncio.gather(*(self._fire_all(shard, timers) for shard, timers in due))
        return next_due

    async def _fire_all(self, shard: int, timers: list[str]) -> None:
        for timer in timers:
            await self._fire(shard, timer)

    async def _fire(self, shard: int, timer: str) -> None:
        pair_id, member, until, kind = timer.split("|")
        decide: Decide = (
            decisions.space_ending(member, int(until))
            if kind == ENDING
            else decisions.space_ended(member, int(until))
        )
        with contextlib.suppress(PairGone):
            recorded = await self._node.journal.record(pair_id, decide)
            if recorded is not None:
                log.info("timer_fired", pair=pair_id, kind=recorded.event.kind)
        await self._node.store.cancel_timers(shard, timer)


def shard_for(pair_id: str, shards: int) -> int:
    """The timer shard of a pair: stable, so every hub finds a pair's timers."""
    return zlib.crc32(pair_id.encode()) % shards


def _name(pair_id: str, member: str, until: int, kind: str) -> str:
    return f"{pair_id}|{member}|{until}|{kind}"
