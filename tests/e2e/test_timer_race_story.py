"""A's space ends once, on time, though two hubs race to fire its timers.

A needs space for 2 seconds (these hubs run with 1-second minimum spaces and
a 1-second reminder lead). Two hub processes share the Redis and both poll
the timers. Every device gets exactly one ``space_ending`` reminder and
exactly one ``space_ended`` (check-in due), each within a second of when it
is due, and the pair's log holds exactly one of each. When A says "I'm back"
before the end, neither ever comes.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from heartline_protocol import (
    Event,
    HubFrame,
    ImBack,
    MemberStatus,
    NeedSpace,
    SpaceEnded,
    SpaceEnding,
    State,
)
from tests.support.couples import Couple, add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import nothing_arrives, presence_of, read_log

LEAD_MS = 1000
"""``space_ending_seconds`` of the test hubs: the reminder comes a second before the end."""
ON_TIME_MS = 1000
MARGIN_S = 1.5
"""Past the end, long enough for a timer lease (1 s) to expire and be claimed again."""


def _timer_event(frame: HubFrame) -> bool:
    return isinstance(frame, Event) and isinstance(frame.body, SpaceEnding | SpaceEnded)


def _until(space: Event) -> int:
    assert isinstance(space.body, NeedSpace)
    assert space.body.until is not None
    return space.body.until


async def _connected_on_two_hubs(
    http: aiohttp.ClientSession, hubs: tuple[HubProcess, HubProcess]
) -> tuple[Couple, Device, Device]:
    couple = await pair_up(http, hubs[0].url)
    a_phone = await Device.connect(http, hubs[0].ws_url, couple.a.token)
    b_phone = await Device.connect(http, hubs[1].ws_url, couple.b.token)
    for member in (couple.a.member, couple.b.member):
        await presence_of(a_phone, member)
    await presence_of(b_phone, couple.b.member)
    return couple, a_phone, b_phone


async def _opened_later(
    http: aiohttp.ClientSession, hub: HubProcess, couple: Couple
) -> tuple[State, list[Event]]:
    """What a web page B opens later finds: the state, and the whole log read with ``sync``."""
    web = await add_device(http, hub.url, couple.b, kind="web", scope="read")
    page = await Device.connect(http, hub.ws_url, web.token)
    log = await read_log(page, after=0)
    await page.close()
    return page.welcome.state, log


async def test_a_space_ends_exactly_once_on_time_with_two_hubs_racing(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hubs = (start_hub(), start_hub())
    couple, a_phone, b_phone = await _connected_on_two_hubs(http, hubs)
    devices = (a_phone, b_phone)

    space = await a_phone.signal(NeedSpace(duration=2, note="two minutes to breathe"))
    until = _until(space)

    # Every device gets the reminder, then the check-in due: about A's space, on time.
    for device in devices:
        ending = await device.next_event("space_ending", timeout=5)
        assert ending.member == couple.a.member
        assert ending.body == SpaceEnding(target=space.seq, until=until)
        assert 0 <= ending.at - (until - LEAD_MS) < ON_TIME_MS
        ended = await device.next_event("space_ended", timeout=5)
        assert ended.member == couple.a.member
        assert ended.body == SpaceEnded(target=space.seq, until=until)
        assert 0 <= ended.at - until < ON_TIME_MS
        assert ended.seq > ending.seq

    # Neither fires a second time, however long the hubs keep racing.
    await nothing_arrives(devices, _timer_event, MARGIN_S)
    for device in devices:
        timers = [e for e in device.events if _timer_event(e)]
        assert [e.kind for e in timers] == ["space_ending", "space_ended"]

    # The log agrees: exactly one of each is stored, and A's check-in is due.
    state, log = await _opened_later(http, hubs[0], couple)
    stored = [e.body for e in log if _timer_event(e)]
    assert stored == [SpaceEnding(space.seq, until), SpaceEnded(space.seq, until)]
    a_state = state.member(couple.a.member)
    assert a_state is not None
    assert (a_state.status, a_state.space_seq) == (MemberStatus.CHECK_IN_DUE, space.seq)
    for device in devices:
        await device.close()

    # The space ends when promised (SPEC 5.1): 2 seconds after the hub received the
    # need_space, a few milliseconds before it was stored.
    assert 0 <= space.at + 2000 - until < 100


async def test_coming_back_before_the_end_cancels_both_timers(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hubs = (start_hub(), start_hub())
    couple, a_phone, b_phone = await _connected_on_two_hubs(http, hubs)
    devices = (a_phone, b_phone)

    space = await a_phone.signal(NeedSpace(duration=2, note="two minutes to breathe"))
    back = await a_phone.signal(ImBack(note="actually, I'm okay now"))
    until = _until(space)
    assert back.at < until - LEAD_MS, "im_back must come before even the reminder is due"

    # Wait past the end, and a margin: no reminder, no check-in due, on any device.
    remaining_s = (until - back.at) / 1000
    await nothing_arrives(devices, _timer_event, remaining_s + MARGIN_S)
    for device in devices:
        assert [e.seq for e in device.events if e.kind == "im_back"] == [back.seq]

    # Nor in the log; A is simply available.
    state, log = await _opened_later(http, hubs[0], couple)
    assert [e for e in log if _timer_event(e)] == []
    assert log[-1] == back
    a_state = state.member(couple.a.member)
    assert a_state is not None
    assert a_state.status is MemberStatus.AVAILABLE
    for device in devices:
        await device.close()
