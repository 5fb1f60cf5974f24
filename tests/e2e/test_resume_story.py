"""B's watch was off while three signals passed; back on, it catches up on exactly those.

A needs space, B says he feels disconnected, A hears him: all while B's
watch is out of reach. When the watch reconnects with the last position it
had, it gets every event it missed, each once and in order, then live events
again. A position from another epoch (a log that started over) cannot be
resumed: the watch is told that history was lost, never handed a silent gap.
"""

from __future__ import annotations

import aiohttp
import pytest

from heartline_protocol import (
    SIGNAL_KINDS,
    Ack,
    FeelingDisconnected,
    ImBack,
    MemberStatus,
    NeedSpace,
    Position,
)
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import caught_up, presence_of, seqs


async def test_a_watch_that_was_off_catches_up_on_what_it_missed(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    hub = shared_hub
    couple = await pair_up(http, hub.url)
    b_watch = await add_device(http, hub.url, couple.b, kind="watch", scope="read")
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    await presence_of(a_phone, couple.a.member)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    await presence_of(b_phone, couple.b.member)
    watch = await Device.connect(http, hub.ws_url, b_watch.token)

    # The watch goes out of reach, remembering where it was.
    last = watch.position
    assert last == Position(b_phone.position.seq, b_phone.welcome.epoch)
    await watch.close()

    # Three signals pass meanwhile.
    space = await a_phone.signal(NeedSpace(duration=1800, note="a walk to recharge, love you"))
    bid = await b_phone.signal(FeelingDisconnected(note="I feel disconnected", wish="talk"))
    heard = await a_phone.signal(Ack(target=bid.seq, reply="I hear you"))
    await caught_up(b_phone, heard.seq)

    # The watch comes back with its last position: resumed, and the state is current.
    watch = await Device.connect(http, hub.ws_url, b_watch.token, resume=last)
    assert watch.welcome.resumed
    assert not watch.welcome.history_lost
    state = watch.welcome.state
    assert state.version == heard.seq
    a_state = state.member(couple.a.member)
    assert a_state is not None
    assert (a_state.status, a_state.space_seq) == (MemberStatus.SPACE, space.seq)
    assert [(b.seq, b.ack is not None) for b in state.bids] == [(bid.seq, True)]

    # Then live events again: A comes back, and the watch sees it too.
    back = await a_phone.signal(ImBack(note="back, thank you for waiting"))
    await caught_up(watch, back.seq)
    await caught_up(b_phone, back.seq)

    # The watch received every event after its position exactly once, in order: the
    # same events B's phone, connected all along, received.
    assert seqs(watch.events) == list(range(last.seq + 1, back.seq + 1))
    assert watch.events == [e for e in b_phone.events if last.seq < e.seq <= back.seq]
    # Among them the three signals it missed, in the order they were sent, then A's return.
    signals = [e for e in watch.events if e.kind in SIGNAL_KINDS]
    assert signals == [space, bid, heard, back]
    for device in (a_phone, b_phone, watch):
        await device.close()


@pytest.mark.parametrize("wrong", ["epoch", "seq"], ids=["another-epoch", "ahead-of-the-log"])
async def test_a_position_that_cannot_be_resumed_gets_history_lost_and_no_replay(
    http: aiohttp.ClientSession, shared_hub: HubProcess, wrong: str
) -> None:
    hub = shared_hub
    couple = await pair_up(http, hub.url)
    b_watch = await add_device(http, hub.url, couple.b, kind="watch", scope="read")
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    await presence_of(a_phone, couple.a.member)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    await presence_of(b_phone, couple.b.member)
    space = await a_phone.signal(NeedSpace(duration=1800, note="a walk"))
    await caught_up(b_phone, space.seq)

    # A position from a log that started over (say, restored from an old backup), or
    # one past the end of this log: either way, events the watch had are not there.
    epoch = b_phone.welcome.epoch
    stale = (
        Position(1, "ep_restored_from_an_old_backup")
        if wrong == "epoch"
        else Position(space.seq + 100, epoch)
    )
    watch = await Device.connect(http, hub.ws_url, b_watch.token, resume=stale)
    assert watch.welcome.history_lost
    assert not watch.welcome.resumed
    # The state is current all the same: the watch shows A in space.
    assert watch.welcome.epoch == epoch
    assert watch.welcome.state.version == space.seq
    a_state = watch.welcome.state.member(couple.a.member)
    assert a_state is not None
    assert (a_state.status, a_state.space_seq) == (MemberStatus.SPACE, space.seq)

    # No replay: the first event the watch receives is the next live one.
    back = await a_phone.signal(ImBack())
    assert (await watch.next_event()) == back
    assert watch.events == [back]
    for device in (a_phone, b_phone, watch):
        await device.close()
