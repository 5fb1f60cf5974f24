"""The event history over HTTP: pages of past events, and no silent gaps (history.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgpack

from heartline_protocol import CheckIn, FeelingDisconnected, ImBack, NeedSpace, SignalBody
from tests.support.couples import Partner, add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


async def page(
    http: aiohttp.ClientSession, hub: HubProcess, who: Partner, **params: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {who.token}"}
    async with http.get(f"{hub.url}/v1/events", params=params, headers=headers) as response:
        return response.status, await response.json()


async def test_a_timeline_pages_through_every_event_in_order(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    signals: list[SignalBody] = [
        NeedSpace(duration=600),
        ImBack(),
        FeelingDisconnected(),
        CheckIn(),
    ]
    stored = [await phone.signal(body) for body in signals]
    reader = await add_device(http, shared_hub.url, couple.b, "widget", scope="read")

    seen: list[dict[str, Any]] = []
    after, more = 0, True
    while more:
        status, body = await page(http, shared_hub, reader, after=str(after), limit="2")
        assert status == 200
        assert not body["history_lost"]
        assert len(body["events"]) <= 2
        seen += body["events"]
        after, more = body["last"], body["more"]

    assert [event["seq"] for event in seen] == list(range(1, body["version"] + 1))
    assert [event["kind"] for event in seen if event["member"] == couple.a.member][-4:] == [
        "need_space",
        "im_back",
        "feeling_disconnected",
        "check_in",
    ]
    assert seen[-1]["seq"] == stored[-1].seq
    await phone.close()


async def test_msgpack_on_request(http: aiohttp.ClientSession, shared_hub: HubProcess) -> None:
    couple = await pair_up(http, shared_hub.url)
    headers = {"Authorization": f"Bearer {couple.a.token}", "Accept": "application/msgpack"}
    async with http.get(f"{shared_hub.url}/v1/events", headers=headers) as response:
        body = msgpack.unpackb(await response.read())
    assert [event["kind"] for event in body["events"]] == ["joined", "joined"]


async def test_a_position_from_another_epoch_gets_the_kept_history_marked_lost(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    status, body = await page(http, shared_hub, couple.a, after="999")
    assert status == 200
    assert body["history_lost"]
    assert [event["seq"] for event in body["events"]] == [1, 2]


async def test_a_reader_that_is_caught_up_gets_an_empty_page(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    status, body = await page(http, shared_hub, couple.b, after="2")
    assert status == 200
    assert (body["events"], body["last"], body["more"], body["history_lost"]) == (
        [],
        2,
        False,
        False,
    )


async def test_bad_pages_get_clear_errors(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    for params in ({"limit": "0"}, {"limit": "101"}, {"after": "-3"}, {"after": "x"}):
        status, body = await page(http, shared_hub, couple.a, **params)
        assert (status, body["error"]["code"]) == (400, "invalid_field"), params
    async with http.get(f"{shared_hub.url}/v1/events") as response:
        assert response.status == 401
