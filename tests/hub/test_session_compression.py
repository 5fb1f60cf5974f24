"""permessage-deflate is off unless the hub is told to accept it (``--websocket-deflate``).

Frames are small msgpack maps, and each compressed connection holds zlib
contexts (about 100 KiB more a connection, BENCHMARKS.md): off by default.
A deployment that wants it (clients on metered links sending long notes)
turns it on; then a client that offers it gets compressed frames both
ways, and one that does not is served as before, in the same pair.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from heartline_protocol import CheckIn, Event
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess

WINDOW_BITS = 15
LONG_NOTE = "thinking of you " * 17


async def test_a_hub_with_deflate_on_compresses_for_clients_that_offer_it(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(websocket_deflate="on")
    couple = await pair_up(http, hub.url)
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token, compress=WINDOW_BITS)
    b_phone = await Device.connect(http, hub.ws_url, couple.b.token)
    assert a_phone.ws.compress == WINDOW_BITS, "A offered deflate and the hub accepted"
    assert b_phone.ws.compress == 0, "B did not offer it"

    from_a = await a_phone.signal(CheckIn(note=LONG_NOTE))
    assert await _event_of(b_phone, from_a.seq) == from_a
    from_b = await b_phone.signal(CheckIn(note=LONG_NOTE.upper()))
    assert await _event_of(a_phone, from_b.seq) == from_b, "compressed by the hub, read by A"
    for device in (a_phone, b_phone):
        await device.close()


async def test_a_hub_by_default_declines_deflate(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub()
    couple = await pair_up(http, hub.url)
    a_phone = await Device.connect(http, hub.ws_url, couple.a.token, compress=WINDOW_BITS)
    assert a_phone.ws.compress == 0
    assert (await a_phone.signal(CheckIn(note=LONG_NOTE))).body == CheckIn(note=LONG_NOTE)
    await a_phone.close()


async def _event_of(device: Device, seq: int) -> Event:
    frame = await device.receive(lambda f: isinstance(f, Event) and f.seq == seq)
    assert isinstance(frame, Event)
    return frame
