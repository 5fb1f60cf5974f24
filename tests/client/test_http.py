"""Pairing and devices through the library's HTTP calls, against a real hub."""

from __future__ import annotations

import asyncio
import time

import pytest

import heartline
from heartline.http import (
    Credentials,
    HubUnreachable,
    add_device,
    create_pair,
    join_pair,
    list_devices,
    new_invite,
    revoke_device,
    unpair,
    websocket_url,
)
from heartline_protocol import ErrorCode
from tests.support.hubs import HubProcess
from tests.support.servers import free_port


async def test_creating_a_pair_gives_credentials_and_an_invite_for_the_partner(
    shared_hub: HubProcess,
) -> None:
    a = await create_pair(shared_hub.url, kind="phone", name="A phone")

    assert (a.hub, a.partner) == (shared_hub.url, None)
    assert a.pair.startswith("p_")
    assert a.member.startswith("m_")
    assert a.device.startswith("d_")
    assert a.token.startswith("hlt_")
    assert a.invite is not None
    assert a.invite.code
    assert a.invite.expires_at > time.time() * 1000 + 23 * 3600 * 1000, "valid for 24 h"


async def test_the_partner_joins_with_the_code_and_sees_who_invited_them(
    shared_hub: HubProcess,
) -> None:
    a = await create_pair(shared_hub.url)
    assert a.invite is not None

    b = await join_pair(shared_hub.url, a.invite.code, kind="phone")

    assert (b.pair, b.partner, b.invite) == (a.pair, a.member, None)
    assert b.member != a.member
    async with heartline.connect(websocket_url(shared_hub.url), b.token) as session:
        assert (session.member, session.partner) == (b.member, a.member)


async def test_a_wrong_invite_code_is_not_found(shared_hub: HubProcess) -> None:
    with pytest.raises(heartline.HubError) as refused:
        await join_pair(shared_hub.url, "NOPE0-NOPE0")

    assert refused.value.code == "not_found"
    assert refused.value.error_code is ErrorCode.NOT_FOUND


async def test_a_new_invite_replaces_the_old_one_while_the_partner_has_not_joined(
    shared_hub: HubProcess,
) -> None:
    a = await create_pair(shared_hub.url)
    assert a.invite is not None

    renewed = await new_invite(shared_hub.url, a.token)

    assert renewed.code != a.invite.code
    with pytest.raises(heartline.HubError) as refused:
        await join_pair(shared_hub.url, a.invite.code)
    assert refused.value.code == "not_found"
    b = await join_pair(shared_hub.url, renewed.code)
    assert b.partner == a.member


async def test_an_added_device_connects_within_its_scope(shared_hub: HubProcess) -> None:
    a, _ = await _couple(shared_hub)

    watch, token = await add_device(shared_hub.url, a.token, kind="watch", scope="read", name="W")

    assert (watch.kind, watch.scope, watch.name) == ("watch", "read", "W")
    async with heartline.connect(websocket_url(shared_hub.url), token) as session:
        assert session.member == a.member
        with pytest.raises(heartline.HubError) as refused:
            await session.check_in(note="a read-only watch may not say this")
        assert refused.value.code == "forbidden"


async def test_a_signal_device_may_signal_but_not_manage_devices(shared_hub: HubProcess) -> None:
    a, _ = await _couple(shared_hub)
    _, token = await add_device(shared_hub.url, a.token, kind="widget", scope="signal")

    async with heartline.connect(websocket_url(shared_hub.url), token) as session:
        assert (await session.check_in()).member == a.member
    with pytest.raises(heartline.HubError) as refused:
        await add_device(shared_hub.url, token, kind="web")
    assert refused.value.code == "forbidden"


async def test_a_member_lists_only_their_own_devices(shared_hub: HubProcess) -> None:
    a, b = await _couple(shared_hub)
    watch, watch_token = await add_device(shared_hub.url, a.token, kind="watch")

    from_phone = await list_devices(shared_hub.url, a.token)
    from_watch = await list_devices(shared_hub.url, watch_token)

    assert {d.id for d in from_phone} == {a.device, watch.id}
    assert b.device not in {d.id for d in from_phone}
    assert [d.id for d in from_phone if d.current] == [a.device]
    assert [d.id for d in from_watch if d.current] == [watch.id]


async def test_a_revoked_device_can_no_longer_connect(shared_hub: HubProcess) -> None:
    a, _ = await _couple(shared_hub)
    watch, token = await add_device(shared_hub.url, a.token, kind="watch")

    await revoke_device(shared_hub.url, a.token, watch.id)

    assert watch.id not in {d.id for d in await list_devices(shared_hub.url, a.token)}
    with pytest.raises(heartline.SessionEnded) as ended:
        async with heartline.connect(websocket_url(shared_hub.url), token):
            pass
    assert ended.value.code == 4500


async def test_unpairing_ends_the_partners_session_and_both_tokens_stop_working(
    shared_hub: HubProcess,
) -> None:
    a, b = await _couple(shared_hub)
    url = websocket_url(shared_hub.url)
    async with heartline.connect(url, b.token) as partner:
        await unpair(shared_hub.url, a.token)
        with pytest.raises(heartline.SessionEnded) as ended:
            await _keep_checking_in(partner)
        assert ended.value.code == 4501

    for token in (a.token, b.token):
        with pytest.raises(heartline.SessionEnded) as refused:
            async with heartline.connect(url, token):
                pass
        assert refused.value.code == 4500
        with pytest.raises(heartline.HubError) as unknown:
            await list_devices(shared_hub.url, token)
        assert unknown.value.code == "unauthorized"


async def test_a_hub_nobody_listens_for_is_unreachable() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(HubUnreachable, match="cannot reach the hub"):
        await create_pair(nowhere)


@pytest.mark.parametrize(
    ("hub", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/ws"),
        ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/v1/ws"),
        ("https://hub.example.org", "wss://hub.example.org/v1/ws"),
        ("https://example.org/heartline/", "wss://example.org/heartline/v1/ws"),
        ("ws://127.0.0.1:8080/v1/ws", "ws://127.0.0.1:8080/v1/ws"),
    ],
)
def test_the_websocket_url_of_a_hub(hub: str, expected: str) -> None:
    assert websocket_url(hub) == expected


def test_credentials_never_show_their_token() -> None:
    secret = "hlt_" + "s3cr3t" * 6
    credentials = Credentials("http://127.0.0.1:8080", "p_1", "m_1", "d_1", secret)

    for shown in (repr(credentials), str(credentials), f"{credentials}", f"{credentials!r}"):
        assert secret not in shown
        assert "d_1" in shown


async def _couple(hub: HubProcess) -> tuple[Credentials, Credentials]:
    a = await create_pair(hub.url, kind="phone")
    assert a.invite is not None
    return a, await join_pair(hub.url, a.invite.code, kind="phone")


async def _keep_checking_in(client: heartline.Heartline) -> None:
    async with asyncio.timeout(5):
        while True:
            await client.check_in()
            await asyncio.sleep(0.05)
