"""Taking a partner's signal, from a WebSocket session or an HTTP quick action.

Both ways in keep the same promises (SPEC.md 5 and 7): a device whose token
may only read is refused; an overloaded hub refuses with ``unavailable`` and
a moment to come back after; each way in limits how fast a device signals;
a ``need_space``'s timers are written before the signal is stored, so a
stored space always ends (on one server they are queued just ahead of the
append on the same connection, which Redis runs in order: one round trip
for both); a signal resent with the same id is answered with
the event stored the first time; and after ``im_back`` the space's timers
are forgotten (one missed there fires as a no-op, timers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from heartline_protocol import ErrorCode, ImBack, NeedSpace, ProtocolError, Signal

from . import decisions
from .clock import now_ms
from .journal import Idempotency, Recorded
from .metrics import SIGNALS_BY_KIND
from .ratelimit import TokenBucket
from .store import StoreUnavailable, TimersAhead, TokenRecord

if TYPE_CHECKING:
    from .node import Node

__all__ = ["admit", "store_signal"]

log = structlog.get_logger(__name__)


def admit(node: Node, identity: TokenRecord, signal_id: str, bucket: TokenBucket) -> None:
    """Raise the :class:`ProtocolError` a signal is refused with, if it is."""
    if not identity.scope.may_signal:
        raise ProtocolError(ErrorCode.FORBIDDEN, "this device may only read", id=signal_id)
    retry_after_ms = node.overload.shed()
    if retry_after_ms is not None:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "the hub is overloaded, resend with the same id",
            id=signal_id, retry_after_ms=retry_after_ms,
        )  # fmt: skip
    wait_ms = bucket.take()
    if wait_ms:
        raise ProtocolError(
            ErrorCode.RATE_LIMITED, "too many signals", id=signal_id, retry_after_ms=wait_ms
        )


async def store_signal(
    node: Node,
    identity: TokenRecord,
    signal: Signal,
    answer: Callable[[Recorded], None] | None = None,
) -> Recorded:
    """Store ``signal`` as its device's event; ``answer`` is told as soon as it is stored.

    A ``ProtocolError`` raised here carries the signal's id.
    """
    try:
        return await _store(node, identity, signal, answer)
    except ProtocolError as error:
        error.id = signal.id
        raise


async def _store(
    node: Node, identity: TokenRecord, signal: Signal, answer: Callable[[Recorded], None] | None
) -> Recorded:
    body = signal.body
    timers: TimersAhead | None = None
    if isinstance(body, NeedSpace):
        until = now_ms() + body.duration * 1000
        timers = await _schedule_space(node, identity, until, body.duration)
        body = NeedSpace(duration=body.duration, note=body.note, until=until)
    ending_space = await _space_until(node, identity) if isinstance(body, ImBack) else None
    try:
        recorded = await node.journal.record(
            identity.pair,
            decisions.signal(identity.member, identity.device, body),
            idempotency=Idempotency.of(identity.device, signal.id, repr(signal.body).encode()),
        )
    except BaseException:
        if timers is not None:
            timers.abandon()
        raise
    if timers is not None:
        await timers.written()
    assert recorded is not None
    if answer is not None:
        answer(recorded)
    if not recorded.replayed:
        SIGNALS_BY_KIND[signal.kind].inc()
        if ending_space is not None:
            await _forget_space_timers(node, identity, ending_space)
    return recorded


async def _schedule_space(
    node: Node, identity: TokenRecord, until: int, duration_s: int
) -> TimersAhead | None:
    """The space's timers, written before its signal: queued ahead of the append where
    Redis keeps that order (one round trip for both), else awaited first."""
    ahead = node.timers.schedule_ahead(identity.pair, identity.member, until, duration_s)
    if ahead is None:
        await node.timers.schedule(identity.pair, identity.member, until, duration_s)
    return ahead


async def _space_until(node: Node, identity: TokenRecord) -> int | None:
    snapshot = await node.journal.snapshot(identity.pair)
    member = snapshot.state.member(identity.member)
    return None if member is None else member.until


async def _forget_space_timers(node: Node, identity: TokenRecord, until: int) -> None:
    """After ``im_back``, already answered: a timer missed here fires as a no-op (timers.py)."""
    try:
        await node.timers.cancel(identity.pair, identity.member, until)
    except StoreUnavailable:
        log.warning("timer_cancel_unavailable", pair=identity.pair)
