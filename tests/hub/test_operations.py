"""What an operator sees: health, readiness, metrics, and logs that keep notes private."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp

from heartline_protocol import CheckIn, FeelingDisconnected
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess, metrics_of


async def test_health_and_readiness_answer(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    async with http.get(f"{shared_hub.url}/healthz") as health:
        assert health.status == 200
    async with http.get(f"{shared_hub.url}/readyz") as ready:
        assert ready.status == 200
        assert (await ready.json())["status"] == "ready"


async def test_metrics_count_signals_by_kind_and_errors_by_code(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    before = await metrics_of(http, shared_hub)
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.signal(CheckIn(note="thinking of you"))
    await phone.send_raw(b"\xc1")
    await phone.next_error()
    after = await metrics_of(http, shared_hub)
    check_ins = 'heartline_signals_total{kind="check_in"}'
    bad_frames = 'heartline_errors_total{code="bad_frame"}'
    assert after[check_ins] == before.get(check_ins, 0) + 1
    assert after[bad_frames] == before.get(bad_frames, 0) + 1
    assert after["heartline_connections"] >= 1
    await phone.close()


async def test_metrics_time_the_events_a_hub_forwards_from_another_hub(
    http: aiohttp.ClientSession, shared_hub: HubProcess, start_hub: Callable[..., HubProcess]
) -> None:
    """The echo of a hub's own event is not counted: it delivered that one at once."""
    other_hub = start_hub()
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    watch = await Device.connect(http, other_hub.ws_url, couple.b.token)
    while (await phone.next_event("presence")).member != couple.b.member:
        pass  # the other hub's presence event has been forwarded here
    before_here = await metrics_of(http, shared_hub)
    before_there = await metrics_of(http, other_hub)

    await phone.signal(CheckIn(note="across hubs"))
    await watch.next_event("check_in")

    count = "heartline_delivery_latency_seconds_count"
    assert (await metrics_of(http, other_hub))[count] == before_there[count] + 1
    assert (await metrics_of(http, shared_hub))[count] == before_here[count]
    await phone.close()
    await watch.close()


async def test_logs_are_json_and_never_hold_a_note_or_a_token(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    secret_note = "only-for-my-partner-7f3a"
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)
    await phone.signal(FeelingDisconnected(note=secret_note, wish="talk"))
    await phone.send_raw(b"\xc1")
    await phone.next_error()
    await phone.close()
    logs = shared_hub.logs()
    assert secret_note not in logs
    assert couple.a.token not in logs
    assert couple.b.token not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["event"] == "frame_refused"]
    assert any(line["code"] == "bad_frame" and line["pair"] == couple.b.pair for line in refused)
    opened = {line["device"] for line in lines if line["event"] == "session_open"}
    assert couple.b.device in opened
