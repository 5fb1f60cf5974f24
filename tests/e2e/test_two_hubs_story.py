"""A and B on two different hubs: live across them, and nothing lost when A's hub dies.

Two hub processes share one Redis behind a load balancer; A's phone lands on
hub 1, B's on hub 2. Their signals cross between the hubs within a second.
Then hub 1 dies (SIGKILL, no goodbye). While A's phone is cut off, B keeps
reaching out; A's phone reconnects to hub 2 with its last position and gets
every event it missed: over both connections A's phone has each event of the
pair once, with no gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from heartline_protocol import Ack, CheckIn, FeelingDisconnected, NeedSpace, SignalBody
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import caught_up, presence_of, seqs, since

LIVE_WITHIN_S = 1.0


async def _crosses_live(sender: Device, receiver: Device, body: SignalBody) -> float:
    """Send ``body`` from ``sender``; seconds until ``receiver`` has it (checked to be it)."""
    started = asyncio.get_running_loop().time()
    sent = await sender.signal(body)
    seen = await receiver.next_event(sent.kind)
    elapsed = since(started)
    assert seen == sent
    return elapsed


async def test_signals_cross_hubs_live_and_survive_a_hub_dying(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub1, hub2 = start_hub(), start_hub()
    couple = await pair_up(http, hub1.url)
    a_phone = await Device.connect(http, hub1.ws_url, couple.a.token)
    b_phone = await Device.connect(http, hub2.ws_url, couple.b.token)
    for member in (couple.a.member, couple.b.member):
        await presence_of(a_phone, member)
    await presence_of(b_phone, couple.b.member)

    # Live, both ways, across the two hubs.
    walk = NeedSpace(duration=1800, note="a walk to recharge, love you")
    assert await _crosses_live(a_phone, b_phone, walk) < LIVE_WITHIN_S
    thinking = CheckIn(note="thinking of you, enjoy the walk")
    assert await _crosses_live(b_phone, a_phone, thinking) < LIVE_WITHIN_S

    # Hub 1 dies; A's phone is cut off.
    hub1.kill()
    await a_phone.closed()
    cut_off_at = a_phone.position

    # Meanwhile B reaches out twice.
    bid = await b_phone.signal(FeelingDisconnected(note="I feel disconnected", wish="talk"))
    nudge = await b_phone.signal(CheckIn(note="are you okay?"))

    # A's phone reconnects to hub 2 with its last position: every missed event follows.
    a_again = await Device.connect(http, hub2.ws_url, couple.a.token, resume=cut_off_at)
    assert a_again.welcome.resumed
    assert not a_again.welcome.history_lost
    await caught_up(a_again, nudge.seq)
    missed = [e for e in a_again.events if e.kind in ("feeling_disconnected", "check_in")]
    assert missed == [bid, nudge]

    # A hears B, and the acknowledgment reaches B live.
    heard = await a_again.signal(Ack(target=nudge.seq, reply="I hear you, home soon"))
    assert (await b_phone.next_event("ack")) == heard
    await caught_up(a_again, heard.seq)

    # Over both connections, A's phone has every event of the pair once, in order, no gap:
    # the same events B's phone, on hub 2 all along, has.
    history = a_phone.events + a_again.events
    first = a_phone.welcome.state.version + 1
    assert seqs(history) == list(range(first, heard.seq + 1))
    assert seqs(a_again.events)[0] == cut_off_at.seq + 1
    await caught_up(b_phone, heard.seq)
    b_history = {e.seq: e for e in b_phone.events}
    assert all(b_history[e.seq] == e for e in history if e.seq in b_history)
    for device in (a_again, b_phone):
        await device.close()
