"""A hub is drained for a deploy (SIGTERM): everyone moves to another hub, nothing is lost.

A and B are connected to the hub being drained; another hub already runs
beside it. A taps "I need space" just as the SIGTERM arrives. Both phones get
``goaway`` and then a close with 4000 (going away); the hub exits cleanly.
A's signal is not lost: either its result arrived before the close, or A's
phone resends it (same client message id) on the other hub and gets the
stored event. Either way the pair's log holds it exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from heartline_protocol import (
    CloseCode,
    Error,
    ErrorCode,
    Event,
    Goaway,
    HubFrame,
    NeedSpace,
    Result,
    Signal,
)
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import caught_up, presence_of, seqs

WALK = NeedSpace(duration=1800, note="going for a walk to recharge, I love you")
REQUEST_ID = "walk-before-deploy"


def _answers_walk(frame: HubFrame) -> bool:
    return isinstance(frame, Result | Error) and frame.id == REQUEST_ID


async def test_draining_a_hub_moves_everyone_elsewhere_and_loses_nothing(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    draining, other = start_hub(), start_hub()
    couple = await pair_up(http, draining.url)
    a_phone = await Device.connect(http, draining.ws_url, couple.a.token)
    b_phone = await Device.connect(http, draining.ws_url, couple.b.token)
    for member in (couple.a.member, couple.b.member):
        await presence_of(a_phone, member)
    await presence_of(b_phone, couple.b.member)

    # A taps "I need space"; the SIGTERM arrives right behind it.
    await a_phone.send(Signal(REQUEST_ID, WALK))
    exit_code = asyncio.create_task(asyncio.to_thread(draining.terminate))

    # Both phones are told to go away, and then closed with 4000.
    for device in (a_phone, b_phone):
        goaway = await device.receive(lambda f: isinstance(f, Goaway), timeout=10)
        assert isinstance(goaway, Goaway)
        assert goaway.reason == "shutdown"
        assert await device.closed(timeout=10) == CloseCode.GOING_AWAY
    # The hub exits cleanly.
    assert await asyncio.wait_for(exit_code, 30) == 0

    # A's phone heard back before the close, or not; if it did, it was stored, or
    # refused as unavailable (the hub was draining) with nothing stored.
    answers = [frame for frame in a_phone.inbox if _answers_walk(frame)]
    assert len(answers) <= 1, answers
    answer = answers[0] if answers else None
    if isinstance(answer, Error):
        assert answer.code == ErrorCode.UNAVAILABLE
    stored = answer.event if isinstance(answer, Result) else None

    # Both phones move to the other hub and resume where they were.
    a_again = await Device.connect(http, other.ws_url, couple.a.token, resume=a_phone.position)
    b_again = await Device.connect(http, other.ws_url, couple.b.token, resume=b_phone.position)
    assert a_again.welcome.resumed
    assert b_again.welcome.resumed

    # A's phone resends the walk with the same id: the hub answers the stored event, the
    # one A already had if its result had come.
    walk = await a_again.signal(WALK, id=REQUEST_ID)
    assert (walk.member, walk.device, walk.body.kind) == (
        couple.a.member,
        couple.a.device,
        "need_space",
    )
    if stored is not None:
        assert walk == stored

    # B sees A's walk exactly once, over both his connections, with no gap and no repeat.
    if walk.seq > b_phone.position.seq:  # not on his first connection: on the new one then
        await caught_up(b_again, walk.seq)
    history: list[Event] = b_phone.events + b_again.events
    first = b_phone.welcome.state.version + 1
    assert seqs(history) == list(range(first, seqs(history)[-1] + 1))
    assert [e for e in history if e.kind == "need_space"] == [walk]
    for device in (a_again, b_again):
        await device.close()
