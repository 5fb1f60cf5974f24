"""The glance: a widget's view of the pair over HTTP, with ETags and long polls (glance.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import msgpack
from multidict import CIMultiDictProxy

from heartline_protocol import CheckIn, FeelingDisconnected, NeedSpace, Signal
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


async def glance(
    http: aiohttp.ClientSession,
    hub: HubProcess,
    token: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any] | None, CIMultiDictProxy[str]]:
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with http.get(f"{hub.url}/v1/glance", params=params, headers=sent) as response:
        if response.status != 200:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body, response.headers
        if response.content_type == "application/msgpack":
            return 200, msgpack.unpackb(await response.read()), response.headers
        return 200, await response.json(), response.headers


async def test_a_widget_sees_each_member_and_the_open_bids_with_an_etag(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.signal(NeedSpace(duration=1800, note="a walk"))
    await phone.signal(FeelingDisconnected(note="miss you", wish="talk"))
    widget = await add_device(http, shared_hub.url, couple.b, "widget", scope="read")

    status, body, headers = await glance(http, shared_hub, widget.token)

    assert status == 200
    assert body is not None
    assert (body["pair"], body["member"]) == (couple.a.pair, couple.b.member)
    assert {member["id"] for member in body["members"]} == {couple.a.member, couple.b.member}
    mine = next(member for member in body["members"] if member["id"] == couple.a.member)
    assert mine["status"] == "space"
    assert mine["until"] > body["server_time"]
    assert [bid["kind"] for bid in body["open_bids"]] == ["feeling_disconnected"]
    assert headers["ETag"] == f'W/"{body["epoch"]}.{body["version"]}"'
    assert headers["Vary"] == "Accept"
    await phone.close()


async def test_msgpack_on_request_holds_the_same_glance(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    _, as_json, _ = await glance(http, shared_hub, couple.a.token)
    _, as_msgpack, headers = await glance(
        http, shared_hub, couple.a.token, headers={"Accept": "application/msgpack"}
    )
    assert as_json is not None
    assert as_msgpack is not None
    assert {**as_msgpack, "server_time": 0} == {**as_json, "server_time": 0}
    assert headers["Content-Type"] == "application/msgpack"


async def test_a_widget_polling_with_its_etag_gets_304_until_a_signal_changes_the_state(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    _, _, headers = await glance(http, shared_hub, couple.b.token)
    etag = headers["ETag"]

    for _ in range(3):
        status, _, again = await glance(
            http, shared_hub, couple.b.token, headers={"If-None-Match": etag}
        )
        assert (status, again["ETag"]) == (304, etag)

    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.signal(CheckIn(note="how are you?"))
    status, body, changed = await glance(
        http, shared_hub, couple.b.token, headers={"If-None-Match": etag}
    )
    assert status == 200
    assert body is not None
    assert changed["ETag"] != etag
    assert [bid["kind"] for bid in body["open_bids"]] == ["check_in"]
    await phone.close()


async def test_a_long_poll_answers_within_100_ms_of_the_partners_signal(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.next_event("presence")
    _, body, _ = await glance(http, shared_hub, couple.b.token)
    assert body is not None
    waiting = asyncio.ensure_future(
        glance(
            http, shared_hub, couple.b.token, params={"wait": "10", "version": str(body["version"])}
        )
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()

    sent = time.perf_counter()
    await phone.send(Signal("c-long-poll", CheckIn(note="thinking of you")))
    status, answered, _ = await waiting
    elapsed = time.perf_counter() - sent

    assert status == 200
    assert answered is not None
    assert answered["version"] > body["version"]
    assert elapsed < 0.1
    await phone.close()


async def test_a_long_poll_with_nothing_new_ends_with_304_after_its_wait(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    _, _, headers = await glance(http, shared_hub, couple.a.token)
    started = time.perf_counter()
    status, _, again = await glance(
        http, shared_hub, couple.a.token,
        params={"wait": "0.4"}, headers={"If-None-Match": headers["ETag"]},
    )  # fmt: skip
    assert (status, again["ETag"]) == (304, headers["ETag"])
    assert 0.4 <= time.perf_counter() - started < 2.0


async def test_a_long_poll_behind_the_pair_answers_at_once(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    started = time.perf_counter()
    status, body, _ = await glance(
        http, shared_hub, couple.a.token, params={"wait": "10", "version": "0"}
    )
    assert status == 200
    assert body is not None
    assert body["version"] > 0
    assert time.perf_counter() - started < 2.0


async def test_bad_requests_get_clear_errors(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    status, body, _ = await glance(http, shared_hub, "not-a-token")
    assert (status, body) == (
        401,
        {"error": {"code": "unauthorized", "message": "a valid bearer token is required"}},
    )
    for params in ({"wait": "soon"}, {"wait": "-1"}, {"version": "x"}):
        status, body, _ = await glance(http, shared_hub, couple.a.token, params=params)
        assert status == 400
        assert body is not None
        assert body["error"]["code"] == "invalid_field"
