"""B feels disconnected and says so; A hears it; the bid stays heard.

B, the partner who chases, names the feeling instead of blaming: "I feel
disconnected and would love to spend some quality time together". A's phone
shows it at once; A answers "I hear you". B sees the acknowledgment, and any
device that connects later finds the bid heard, by A, with A's words. A bid
is heard once, and only the partner can hear it.
"""

from __future__ import annotations

import aiohttp
import pytest

from heartline_protocol import Ack, BidAck, ErrorCode, FeelingDisconnected, ImBack, Wish
from tests.support.couples import Couple, pair_up
from tests.support.devices import Device, HubError
from tests.support.hubs import HubProcess
from tests.support.stories import caught_up, presence_of

FEELING = "I feel disconnected and would love to spend some quality time together"


async def _connected(
    http: aiohttp.ClientSession, hub: HubProcess, couple: Couple
) -> tuple[Device, Device]:
    """A's and B's phones, connected, with both partners' coming online already recorded."""
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    await presence_of(a_phone, couple.a.member)
    await presence_of(a_phone, couple.b.member)
    return a_phone, b_phone


async def test_a_bid_for_connection_is_heard_and_stays_heard(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    a_phone, b_phone = await _connected(http, shared_hub, couple)

    bid = await b_phone.signal(FeelingDisconnected(note=FEELING, wish=Wish.QUALITY_TIME.value))
    assert (bid.member, bid.device) == (couple.b.member, couple.b.device)
    assert bid.body == FeelingDisconnected(note=FEELING, wish="quality_time")

    # A's phone shows the bid, note and wish included.
    assert (await a_phone.next_event("feeling_disconnected")) == bid

    # A hears it.
    heard = await a_phone.signal(Ack(target=bid.seq, reply="I hear you"))
    assert (heard.member, heard.device) == (couple.a.member, couple.a.device)
    assert heard.body == Ack(target=bid.seq, reply="I hear you")
    assert heard.seq > bid.seq

    # B sees that A heard it.
    assert (await b_phone.next_event("ack")) == heard

    # A device that connects later finds the bid heard by A, with A's reply, and no open bid.
    later = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    state = later.welcome.state
    assert state.version == heard.seq
    (shown,) = state.bids
    assert (shown.seq, shown.kind, shown.member, shown.at, shown.note, shown.wish) == (
        bid.seq,
        "feeling_disconnected",
        couple.b.member,
        bid.at,
        FEELING,
        "quality_time",
    )
    assert shown.ack == BidAck(
        seq=heard.seq, member=couple.a.member, at=heard.at, reply="I hear you"
    )
    assert state.open_bids == ()
    for device in (a_phone, b_phone, later):
        await device.close()


async def _refused(device: Device, ack: Ack, request: str) -> str:
    """Send ``ack`` and return the error code the hub answers it with (it must refuse)."""
    with pytest.raises(HubError) as refusal:
        await device.signal(ack, id=request)
    assert refusal.value.frame.id == request
    return refusal.value.code


async def test_a_bid_is_heard_only_once_and_only_by_the_partner(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    a_phone, b_phone = await _connected(http, shared_hub, couple)
    bid = await b_phone.signal(FeelingDisconnected(note=FEELING, wish="quality_time"))
    back = await a_phone.signal(ImBack(note="back from my walk"))
    heard = await a_phone.signal(Ack(target=bid.seq, reply="I hear you"))

    # Hearing it again: the bid was already heard.
    assert await _refused(a_phone, Ack(target=bid.seq, reply="I hear you"), "again") == (
        ErrorCode.CONFLICT
    )
    # B cannot hear his own bid.
    assert await _refused(b_phone, Ack(target=bid.seq), "own-bid") == ErrorCode.NOT_FOUND
    # Only bids can be heard: not A's own "I'm back", not a join, not an event yet to come.
    for target, request in ((back.seq, "not-a-bid"), (1, "a-join"), (heard.seq + 50, "future")):
        assert await _refused(a_phone, Ack(target=target), request) == ErrorCode.NOT_FOUND

    # Nothing of the refused acks was stored: the log ends with A's ack, the bid heard once.
    later = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    assert later.welcome.state.version == heard.seq
    (shown,) = later.welcome.state.bids
    assert shown.ack is not None
    assert (shown.ack.seq, shown.ack.member) == (heard.seq, couple.a.member)
    for device in (a_phone, b_phone):
        await caught_up(device, heard.seq)
        assert [e.seq for e in device.events if e.kind == "ack"] == [heard.seq]
    for device in (a_phone, b_phone, later):
        await device.close()
