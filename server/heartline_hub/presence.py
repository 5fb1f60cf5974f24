"""Presence: which member has a device online, as ``presence`` events (SPEC.md 6.2).

Each connection marks itself in the pair's online hash (one field per
connection, holding its hub) and unmarks itself when it ends; then the member's
presence is reconciled: the event is recorded only if the member's status in
the state differs from what the hash says, and only if nobody changed the
hash in between (append.lua checks the online_rev it was decided on).
Whoever changes the hash last reconciles last, so the state ends up agreeing
with the hash.

A hub that dies cannot unmark its devices. So every hub keeps an alive key
with a short expiry and records the pairs it serves; the :class:`Keeper` of
each hub renews its own key and, when another hub's key has expired, one
surviving hub unmarks the dead hub's devices and reconciles those members.

A live hub can miss its renewals too: a Redis failover takes seconds, a
process can be frozen. Its devices are then swept although still connected.
So a hub that finds its own key lapsed marks every open connection online
again, once no sweep of it is running (a sweep that started later would undo
it: the sweeper checks, after its claim, that the hub is still dead).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import structlog

from . import decisions
from .beat import sleep_to_beat
from .clock import now_ms
from .journal import MAX_ATTEMPTS, PairGone
from .store import Connection, OnlineChange, PairSnapshot, StoreUnavailable, TokenRecord
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    from .node import Node

__all__ = ["Keeper", "announce", "reconcile"]

log = structlog.get_logger(__name__)

ALIVE_EVERY_S = 1.0
ALIVE_TTL_MS = 4_000
SWEEP_CLAIM_MS = 30_000
RESTORE_BATCH = 200
"""Connections marked online again at a time after this hub was presumed dead."""


async def announce(node: Node, identity: TokenRecord, session_id: str, *, online: bool) -> None:
    """A connection of ``identity``'s device opened or closed on this hub."""
    store, pair = node.store, identity.pair
    connection = Connection(identity.member, identity.device, session_id, node.hub_id)
    if online:
        await store.track_hub_pair(node.hub_id, pair, present=True)
        change = await store.set_online(pair, connection)
    else:
        change = await store.clear_online(pair, connection)
        if not node.fanout.serves(pair):
            await store.track_hub_pair(node.hub_id, pair, present=False)
    await reconcile(node, pair, identity.member, identity.device, change)


async def reconcile(
    node: Node,
    pair_id: str,
    member: str,
    device: str | None,
    change: OnlineChange | None = None,
) -> None:
    """Record a ``presence`` event if the member's online status changed.

    ``change`` is what this hub's own change of the online hash read in the
    same step. When the journal's cached snapshot is of the version it read,
    the decision is made from them, without reading the pair again (a device
    connecting or leaving cost two more round trips and a parse of the whole
    state). append.lua refuses the event if the version or the online_rev
    moved since, and it is decided again from a fresh read.
    """
    view = _view_at(node, pair_id, change)
    for _ in range(MAX_ATTEMPTS):
        if view is None:
            snapshot = await node.journal.reload(pair_id)
            live = member in await node.store.online_members(pair_id)
        else:
            (snapshot, live), view = view, None
        now = now_ms()
        decision = decisions.presence(member, device, live)(snapshot, now)
        if decision is None:
            return
        recorded = await node.journal.attempt(pair_id, snapshot, decision, now, guard_presence=True)
        if recorded is not None:
            return


def _view_at(
    node: Node, pair_id: str, change: OnlineChange | None
) -> tuple[PairSnapshot, bool] | None:
    """The cached snapshot as of ``change`` and whether the member is online, if the cache
    is of the version the change read."""
    if change is None:
        return None
    cached = node.journal.cached(pair_id)
    if cached is None or cached.version != change.version:
        return None
    return dataclasses.replace(cached, online_rev=change.online_rev), change.member_online


class Keeper:
    """Keeps this hub's alive key fresh and cleans up after hubs that died."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._task: asyncio.Task[None] | None = None
        self._restoring: asyncio.Task[None] | None = None
        self._renewed_once = False
        self._presumed_dead = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop renewing; a hub that stops cleanly has unmarked its devices already."""
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._restoring)
        with contextlib.suppress(StoreUnavailable):
            await self._node.store.forget_hub(self._node.hub_id)

    async def _run(self) -> None:
        while True:
            try:
                await self._renew()
                for hub in await self._node.store.dead_hubs():
                    await self._sweep(hub)
            except StoreUnavailable as error:
                log.warning("presence_keeper_unavailable", error=str(error))
            await sleep_to_beat(ALIVE_EVERY_S)

    async def _renew(self) -> None:
        store, hub_id = self._node.store, self._node.hub_id
        held = await store.keep_hub_alive(hub_id, ALIVE_TTL_MS)
        if self._renewed_once and not held:
            log.warning("hub_alive_lapsed", hub=hub_id, ttl_ms=ALIVE_TTL_MS)
            self._presumed_dead = True
        self._renewed_once = True
        restoring = self._restoring is not None and not self._restoring.done()
        if self._presumed_dead and not restoring and not await store.sweeping(hub_id):
            self._presumed_dead = False
            self._restoring = asyncio.get_running_loop().create_task(self._restore())

    async def _restore(self) -> None:
        """Mark this hub's open connections online again, a batch at a time.

        In a task of its own: with thousands of connections it takes longer
        than the alive key lasts, and the renewals must go on meanwhile.
        """
        sessions = tuple(self._node.sessions)
        for start in range(0, len(sessions), RESTORE_BATCH):
            batch = sessions[start : start + RESTORE_BATCH]
            outcomes = await asyncio.gather(
                *(session.restore_presence() for session in batch), return_exceptions=True
            )
            failed = [error for error in outcomes if isinstance(error, Exception)]
            if failed:
                log.warning("presence_restore_failed", error=repr(failed[0]), sessions=len(failed))
                self._presumed_dead = True
        log.info("presence_restored", sessions=len(sessions), presumed_dead=self._presumed_dead)

    async def _sweep(self, hub: str) -> None:
        store = self._node.store
        if hub == self._node.hub_id or not await store.claim_sweep(hub, SWEEP_CLAIM_MS):
            return
        if await store.hub_alive(hub):
            await store.release_sweep(hub)
            return
        pairs = await store.hub_pairs(hub)
        for pair in pairs:
            for member in await store.clear_hub_online(pair, hub):
                with contextlib.suppress(PairGone):
                    await reconcile(self._node, pair, member, None)
        await store.forget_hub(hub)
        log.info("dead_hub_swept", hub=hub, pairs=len(pairs))
