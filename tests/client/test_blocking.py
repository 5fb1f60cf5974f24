"""heartline.blocking from plain scripts: no asyncio in sight, a real hub behind.

These tests are plain functions, as a widget refresher or a cron job would
be; pytest runs them without an event loop.
"""

from __future__ import annotations

import time

import pytest

import heartline
from heartline import blocking
from heartline.http import Credentials
from heartline_protocol import Ack, CheckIn, MemberStatus, NeedSpace
from tests.support.hubs import HubProcess
from tests.support.servers import free_port


def test_the_blocking_twins_pair_two_partners(shared_hub: HubProcess) -> None:
    a = blocking.create_pair(shared_hub.url, kind="widget", name="A desk widget")
    assert a.invite is not None

    b = blocking.join_pair(shared_hub.url, a.invite.code, kind="phone")

    assert (b.pair, b.partner) == (a.pair, a.member)
    [device] = blocking.list_devices(shared_hub.url, a.token)
    assert (device.id, device.kind, device.name, device.current) == (
        a.device,
        "widget",
        "A desk widget",
        True,
    )


def test_a_widget_refresher_sees_the_partner_take_space(shared_hub: HubProcess) -> None:
    a, b = _couple(shared_hub)
    space = NeedSpace(duration=1800, note="a walk to recharge")

    blocking.send_signal(shared_hub.ws_url, b.token, space)
    state = blocking.fetch_state(shared_hub.ws_url, a.token)

    b_seen = state.member(b.member)
    assert b_seen is not None
    assert (b_seen.status, b_seen.note) == (MemberStatus.SPACE, "a walk to recharge")
    assert b_seen.until is not None
    assert 1790 < (b_seen.until / 1000 - time.time()) <= 1800


def test_send_signal_returns_the_stored_event_and_a_resend_stores_nothing(
    shared_hub: HubProcess,
) -> None:
    a, _ = _couple(shared_hub)

    first = blocking.send_signal(shared_hub.url, a.token, CheckIn(note="hi"), id="c-cron-1")
    again = blocking.send_signal(shared_hub.url, a.token, CheckIn(note="hi"), id="c-cron-1")
    second = blocking.send_signal(shared_hub.url, a.token, CheckIn(note="hi"))

    assert (first.kind, first.member, first.body) == ("check_in", a.member, CheckIn(note="hi"))
    assert again.seq == first.seq, "the same id is answered with the event stored first"
    assert second.seq > first.seq
    bids = blocking.fetch_state(shared_hub.url, a.token).open_bids
    assert [bid.seq for bid in bids] == [first.seq, second.seq], "stored twice, not three times"


def test_the_conveniences_say_each_thing_and_a_bid_is_heard(shared_hub: HubProcess) -> None:
    a, b = _couple(shared_hub)
    url = shared_hub.ws_url

    space = blocking.need_space(url, a.token, 30, note="back soon")
    assert isinstance(space.body, NeedSpace)
    assert (space.body.duration, space.body.note) == (1800, "back soon")
    assert blocking.im_back(url, a.token).kind == "im_back"

    bid = blocking.feeling_disconnected(url, b.token, note="I miss you", wish="hug")
    assert [open_bid.seq for open_bid in blocking.fetch_state(url, a.token).open_bids] == [bid.seq]
    heard = blocking.ack(url, a.token, bid.seq)
    assert (heard.kind, heard.body) == ("ack", Ack(target=bid.seq, reply="I hear you"))
    assert blocking.fetch_state(url, b.token).open_bids == ()

    check = blocking.check_in(url, b.token, note="how are you?")
    assert blocking.ack(url, a.token, check.seq, reply="better now").seq > check.seq


def test_a_refused_signal_raises_the_hubs_error(shared_hub: HubProcess) -> None:
    a, _ = _couple(shared_hub)

    with pytest.raises(heartline.HubError) as refused:
        blocking.ack(shared_hub.ws_url, a.token, 999_999)

    assert refused.value.code == "not_found"


def test_a_bad_token_ends_at_once(shared_hub: HubProcess) -> None:
    with pytest.raises(heartline.SessionEnded) as ended:
        blocking.fetch_state(shared_hub.ws_url, "hlt_not-a-real-token")

    assert ended.value.code == 4500


def test_an_unreachable_hub_gives_up_after_the_timeout() -> None:
    started = time.monotonic()

    with pytest.raises(heartline.NotDelivered):
        blocking.fetch_state(f"ws://127.0.0.1:{free_port()}/v1/ws", "hlt_any", timeout=0.5)

    assert time.monotonic() - started < 3


async def test_inside_a_running_event_loop_the_async_api_is_the_way(
    shared_hub: HubProcess,
) -> None:
    with pytest.raises(RuntimeError, match=r"running asyncio event loop.*heartline\.connect"):
        blocking.fetch_state(shared_hub.ws_url, "hlt_any")
    with pytest.raises(RuntimeError, match=r"heartline\.http\.create_pair"):
        blocking.create_pair(shared_hub.url)


def _couple(hub: HubProcess) -> tuple[Credentials, Credentials]:
    a = blocking.create_pair(hub.url, kind="phone")
    assert a.invite is not None
    return a, blocking.join_pair(hub.url, a.invite.code, kind="phone")
