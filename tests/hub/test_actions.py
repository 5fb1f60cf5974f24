"""Quick actions: signals over HTTP with an Idempotency-Key, for watches (actions.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from heartline_protocol import Event
from tests.support.couples import add_device, pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess


async def quick_action(
    http: aiohttp.ClientSession,
    hub: HubProcess,
    token: str,
    body: Any,
    key: str | None = "k-1",
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.post(f"{hub.url}/v1/signals", json=body, headers=headers) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_a_watch_resending_need_space_stores_it_once_and_the_partner_sees_one_event(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    watch = await add_device(http, shared_hub.url, couple.a, "watch", scope="signal")
    partner = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    body = {"kind": "need_space", "duration": 1800, "note": "a walk, love you"}

    first = await quick_action(http, shared_hub, watch.token, body, key="w-77")
    again = await quick_action(http, shared_hub, watch.token, body, key="w-77")

    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    event = first[1]["event"]
    assert (event["kind"], event["member"], event["device"]) == (
        "need_space",
        couple.a.member,
        watch.device,
    )
    assert 1800 * 1000 - 1000 <= event["until"] - event["at"] <= 1800 * 1000
    assert "Idempotent-Replayed" not in first[2]
    assert again[2]["Idempotent-Replayed"] == "true"
    seen = await partner.next_event("need_space")
    assert seen.seq == event["seq"]
    later = await partner.drain()
    assert [
        frame for frame in later if isinstance(frame, Event) and frame.kind == "need_space"
    ] == []
    await partner.close()


async def test_the_same_key_for_another_signal_is_a_conflict(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    await quick_action(http, shared_hub, couple.a.token, {"kind": "check_in"}, key="k-9")
    status, body, _ = await quick_action(
        http, shared_hub, couple.a.token, {"kind": "im_back"}, key="k-9"
    )
    assert status == 409
    assert body["error"]["code"] == "conflict"


async def test_a_read_token_may_not_send_and_nothing_is_stored(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    widget = await add_device(http, shared_hub.url, couple.b, "widget", scope="read")
    before = await _version(http, shared_hub, couple.b.token)

    status, body, _ = await quick_action(http, shared_hub, widget.token, {"kind": "check_in"})

    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert await _version(http, shared_hub, couple.b.token) == before


async def test_bad_actions_get_clear_errors_and_store_nothing(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await pair_up(http, shared_hub.url)
    token = couple.a.token
    before = await _version(http, shared_hub, token)
    cases: list[tuple[Any, str | None, int, str]] = [
        ({"kind": "check_in"}, None, 400, "invalid_field"),
        ({"kind": "check_in", "id": "x"}, "k-2", 400, "invalid_field"),
        ({"kind": "dance"}, "k-3", 400, "unknown_kind"),
        ({"kind": "need_space", "duration": 999_999}, "k-4", 400, "invalid_field"),
        ({"kind": "need_space", "duration": 1.5}, "k-5", 400, "invalid_field"),
        ({"kind": "check_in", "note": "x" * 281}, "k-6", 400, "too_large"),
        (["check_in"], "k-7", 400, "bad_frame"),
        ({"kind": "check_in"}, "", 400, "invalid_field"),
        ({"kind": "check_in", "note": 10**30}, "k-8", 400, "bad_frame"),
        ({"kind": "need_space", "duration": 1800.5}, "k-9", 400, "invalid_field"),
        ({"kind": "check_in", "note": "\ud800"}, "k-10", 400, "bad_frame"),
    ]
    for body, key, status, code in cases:
        answer = await quick_action(http, shared_hub, token, body, key=key)
        assert (answer[0], answer[1].get("error", {}).get("code")) == (status, code), answer
    assert await _version(http, shared_hub, token) == before


async def test_fields_the_kind_does_not_know_are_ignored_whatever_they_hold(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    """JSON holds what msgpack cannot: a newer watch's extra field must not cost its signal."""
    couple = await pair_up(http, shared_hub.url)
    body = {
        "kind": "check_in",
        "note": "thinking of you",
        "mood": -(10**40),
        "duration": 10**30,
        "\ud800": ["\udfff", {"deep": [2**64, False]}],
    }

    status, answer, _ = await quick_action(http, shared_hub, couple.a.token, body, key="k-x")

    assert status == 201, answer
    assert answer["event"]["note"] == "thinking of you"
    assert {"mood", "duration", "\ud800"}.isdisjoint(answer["event"])


async def test_a_device_past_its_signal_budget_is_told_when_to_come_back(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(signal_rate="1", signal_burst="2")
    couple = await pair_up(http, hub.url)
    answers = [
        await quick_action(http, hub, couple.a.token, {"kind": "check_in"}, key=f"k-{n}")
        for n in range(3)
    ]
    assert [status for status, _, _ in answers] == [201, 201, 429]
    assert answers[2][1]["error"]["code"] == "rate_limited"
    assert int(answers[2][2]["Retry-After"]) >= 1


async def _version(http: aiohttp.ClientSession, hub: HubProcess, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{hub.url}/v1/glance", headers=headers) as response:
        version: int = (await response.json())["version"]
        return version
