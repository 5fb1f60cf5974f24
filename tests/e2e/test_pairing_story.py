"""Two partners pair from scratch, and see each other's devices come online.

A creates the pair on her phone and gets an invite code; B joins with it on
his phone, then adds his watch. Every device that connects is welcomed into
the same pair with both members in the state, and the partner sees each
partner come online (and go offline) once, however many devices they carry.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from heartline_protocol import CheckIn, MemberStatus, Presence
from tests.support.couples import Partner, add_device
from tests.support.devices import Device
from tests.support.hubs import HubProcess
from tests.support.stories import read_log, seqs


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_two_partners_pair_and_see_each_other_come_online(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    hub = shared_hub

    # A creates the pair on her phone: she is its first member and gets a code for B.
    status, created = await _post(http, f"{hub.url}/v1/pairs", {"device": {"kind": "phone"}})
    assert status == 201, created
    code = created["invite"]["code"]
    a = Partner(created["pair"], created["member"], created["device"], created["token"])

    # B joins with the code on his phone: same pair, another member, A as his partner.
    status, joined = await _post(
        http, f"{hub.url}/v1/pairs/join", {"code": code, "device": {"kind": "phone"}}
    )
    assert status == 201, joined
    b = Partner(joined["pair"], joined["member"], joined["device"], joined["token"])
    assert b.pair == a.pair
    assert b.member != a.member
    assert joined["partner"] == a.member

    # The code was for B alone: nobody can join with it again.
    status, refused = await _post(
        http, f"{hub.url}/v1/pairs/join", {"code": code, "device": {"kind": "phone"}}
    )
    assert (status, refused["error"]["code"]) == (404, "not_found")

    # A's phone connects: both members are in the pair, B is her partner; A comes online.
    a_phone = await Device.connect(http, hub.ws_url, a.token)
    welcome = a_phone.welcome
    assert (welcome.pair, welcome.member, welcome.device, welcome.partner) == (
        a.pair,
        a.member,
        a.device,
        b.member,
    )
    assert [m.id for m in welcome.state.members] == [a.member, b.member]
    assert all(m.status is MemberStatus.AVAILABLE for m in welcome.state.members)
    a_online = await a_phone.next_event("presence")
    assert (a_online.member, a_online.device, a_online.body) == (
        a.member,
        a.device,
        Presence(online=True),
    )

    # B's phone connects: A is his partner and already online; B comes online, both see it.
    b_phone = await Device.connect(http, hub.ws_url, b.token)
    welcome = b_phone.welcome
    assert (welcome.pair, welcome.member, welcome.device, welcome.partner) == (
        a.pair,
        b.member,
        b.device,
        a.member,
    )
    assert [m.id for m in welcome.state.members] == [a.member, b.member]
    a_state = welcome.state.member(a.member)
    assert a_state is not None
    assert a_state.online
    b_online = await a_phone.next_event("presence")
    assert (b_online.member, b_online.device, b_online.body) == (
        b.member,
        b.device,
        Presence(online=True),
    )
    assert (await b_phone.next_event("presence")) == b_online

    # B adds his watch and it connects: the same pair and member, a device of its own.
    b_watch = await add_device(http, hub.url, b, kind="watch")
    assert b_watch.device not in (a.device, b.device)
    watch = await Device.connect(http, hub.ws_url, b_watch.token)
    welcome = watch.welcome
    assert (welcome.pair, welcome.member, welcome.device, welcome.partner) == (
        a.pair,
        b.member,
        b_watch.device,
        a.member,
    )
    assert [(m.id, m.online) for m in welcome.state.members] == [
        (a.member, True),
        (b.member, True),
    ]

    # B was online already: his watch does not make him come online again. The next
    # thing A's phone shows is B's tap on the watch.
    tap = await watch.signal(CheckIn(note="thinking of you"))
    assert (await a_phone.next_event()) == tap
    assert (tap.member, tap.device) == (b.member, b_watch.device)

    # B puts his phone away, then his watch: he goes offline once, when the last one leaves.
    await b_phone.close()
    await watch.close()
    b_offline = await a_phone.next_event("presence")
    assert (b_offline.member, b_offline.body) == (b.member, Presence(online=False))

    # A's phone saw the whole story after its welcome, in order, each event once.
    assert [(e.kind, e.member) for e in a_phone.events] == [
        ("presence", a.member),
        ("presence", b.member),
        ("check_in", b.member),
        ("presence", b.member),
    ]
    first = a_phone.welcome.state.version + 1
    assert seqs(a_phone.events) == list(range(first, first + 4))

    # The pair's log starts with the two joins: A created the pair, B accepted the invite.
    a_web = await add_device(http, hub.url, a, kind="web", scope="read")
    page = await Device.connect(http, hub.ws_url, a_web.token)
    log = await read_log(page)
    assert [(e.seq, e.kind, e.member, e.device) for e in log[:2]] == [
        (1, "joined", a.member, a.device),
        (2, "joined", b.member, b.device),
    ]
    assert log[2:] == a_phone.events
    for device in (a_phone, page):
        await device.close()
