"""B sees whether A is around: online while a device of A is connected, offline after.

Even when the hub A's phone was on dies without a word, B does not keep
seeing A online: a surviving hub notices and records A going offline. And a
hub that was only frozen, long enough to be taken for dead, puts its devices
back online when it thaws.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from heartline_protocol import CheckIn, Event, Presence
from tests.support.couples import Couple, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.traffic import until_answered


async def test_presence_follows_the_last_device(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    a_phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    came = await _presence_of(b_phone, couple.a.member)
    assert came.body == Presence(online=True)

    a_again = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await a_phone.close()
    await a_again.close()
    left = await _presence_of(b_phone, couple.a.member)
    assert left.body == Presence(online=False)
    later = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    a_state = later.welcome.state.member(couple.a.member)
    assert a_state is not None
    assert not a_state.online
    assert a_state.last_seen == left.at
    for device in (b_phone, later):
        await device.close()


async def test_a_second_connection_of_the_same_device_ending_leaves_it_online(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    first = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    assert (await _presence_of(b_phone, couple.a.member)).body == Presence(online=True)
    second = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await second.close()
    first_still_there = await first.signal(CheckIn(note="still here"))
    seen = await b_phone.next_event("check_in")
    assert seen.seq == first_still_there.seq
    assert Presence(online=False) not in [
        event.body for event in b_phone.events if event.member == couple.a.member
    ], "A never looked offline while the first connection was open"
    await first.close()
    assert (await _presence_of(b_phone, couple.a.member)).body == Presence(online=False)
    await b_phone.close()


async def test_a_member_on_a_hub_that_dies_goes_offline(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    doomed, survivor = start_hub(), start_hub()
    couple, a_phone, b_phone = await _seen_online_across_hubs(http, doomed, survivor)

    doomed.kill()
    left = await _presence_of(b_phone, couple.a.member, timeout=8)
    assert left.body == Presence(online=False)
    await a_phone.ws.close()
    await b_phone.close()


async def test_a_member_on_a_hub_that_froze_past_its_lease_comes_back_online(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    frozen, survivor = start_hub(), start_hub()
    couple, a_phone, b_phone = await _seen_online_across_hubs(http, frozen, survivor)

    frozen.pause()
    try:
        swept = await _presence_of(b_phone, couple.a.member, timeout=8)
    finally:
        frozen.resume()
    assert swept.body == Presence(online=False), "the survivor took the silent hub for dead"
    back = await _presence_of(b_phone, couple.a.member, timeout=5)
    assert back.body == Presence(online=True), "the hub thawed and put A's phone back online"
    assert "hub_alive_lapsed" in frozen.logs()

    still_there = await until_answered(a_phone, "never-left")
    assert (await b_phone.next_event("check_in")).seq == still_there.seq
    later = await Device.connect(http, survivor.ws_url, couple.b.token)
    a_state = later.welcome.state.member(couple.a.member)
    assert a_state is not None
    assert a_state.online
    for device in (a_phone, b_phone, later):
        await device.close()


async def _seen_online_across_hubs(
    http: aiohttp.ClientSession, a_hub: HubProcess, b_hub: HubProcess
) -> tuple[Couple, Device, Device]:
    """A's phone on ``a_hub`` and B's on ``b_hub``, once B has seen A come online."""
    couple = await pair_up(http, b_hub.url)
    b_phone = await Device.connect(http, b_hub.ws_url, couple.b.token)
    a_phone = await Device.connect(http, a_hub.ws_url, couple.a.token)
    assert (await _presence_of(b_phone, couple.a.member)).body == Presence(online=True)
    return couple, a_phone, b_phone


async def _presence_of(device: Device, member: str, timeout: float = 5) -> Event:
    frame = await device.receive(
        lambda f: isinstance(f, Event) and f.kind == "presence" and f.member == member, timeout
    )
    assert isinstance(frame, Event)
    return frame
