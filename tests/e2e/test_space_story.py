"""A needs space; B's phone and watch show it; the space ends; A comes back."""

from __future__ import annotations

import aiohttp

from heartline_protocol import ImBack, MemberStatus, NeedSpace
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


async def test_a_space_ends_with_a_check_in_due_on_every_device(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    b_watch = await add_device(http, shared_hub.url, couple.b, kind="watch", scope="read")
    a_phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    watch = await Device.connect(http, shared_hub.ws_url, b_watch.token)

    space = await a_phone.signal(NeedSpace(duration=2, note="a walk to recharge"))
    assert isinstance(space.body, NeedSpace)
    assert (space.body.duration, space.body.note) == (2, "a walk to recharge")
    assert space.body.until is not None
    assert 0 <= space.at + 2000 - space.body.until < 100

    for device in (b_phone, watch):
        seen = await device.next_event("need_space")
        assert (seen.seq, seen.member, seen.body) == (space.seq, couple.a.member, space.body)

    for device in (a_phone, b_phone, watch):
        ended = await device.next_event("space_ended", timeout=5)
        assert ended.member == couple.a.member
        assert ended.at - space.body.until < 1000

    back = await a_phone.signal(ImBack())
    for device in (b_phone, watch):
        assert (await device.next_event("im_back")).seq == back.seq

    later = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    a_state = later.welcome.state.member(couple.a.member)
    assert a_state is not None
    assert a_state.status is MemberStatus.AVAILABLE
    for device in (a_phone, b_phone, watch, later):
        await device.close()
