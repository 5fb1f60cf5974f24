"""A hub looks for due timers when the next is due, not on a fixed poll (timers.py).

The hubs here look at most every 30 s (``timer_poll_ms``), far longer than
the spaces they time: a space still ends on time, whether this hub
scheduled its timers (it looks again sooner) or another hub did and this
one looked since (the claim told it when the next timer is due). Timers a
hub has not looked for since they were scheduled wait for its next look:
real spaces last a minute at least, and the default is a second.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from heartline_protocol import NeedSpace
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess

RARELY = {"timer_poll_ms": "30000"}


async def space_of(device: Device, seconds: int) -> int:
    """Take a space of ``seconds``; when it ends."""
    space = await device.signal(NeedSpace(duration=seconds))
    assert isinstance(space.body, NeedSpace)
    assert space.body.until is not None
    return space.body.until


async def test_a_space_scheduled_on_a_hub_that_rarely_looks_ends_on_time(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(**RARELY)
    couple = await pair_up(http, hub.url)
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token)

    until = await space_of(a_phone, 2)

    ended = await a_phone.next_event("space_ended", timeout=5)
    assert 0 <= ended.at - until < 1000
    await a_phone.close()


async def test_a_space_ends_on_time_on_a_hub_that_learned_of_it_from_a_claim(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    """The hub that stored the space stops before it ends; another one, started
    after and then looking at most every 30 s, fires it on time."""
    storing = start_hub(**RARELY)
    couple = await pair_up(http, storing.url)
    a_phone = await Device.connect(http, storing.ws_url, couple.a.token)
    until = await space_of(a_phone, 4)
    await a_phone.close()
    storing.stop()
    firing = start_hub(**RARELY)

    b_phone = await Device.connect(http, firing.ws_url, couple.b.token)
    ended = await b_phone.next_event("space_ended", timeout=8)
    assert ended.member == couple.a.member
    assert 0 <= ended.at - until < 1000
    await b_phone.close()
