"""Pairing and devices over HTTP, as partners and their devices use it (http_api.py).

Partner A creates a pair and gets an invite code; partner B joins with it.
Each adds devices (a watch, a widget) with tokens of their own, revokes them,
and either of them may unpair, which erases everything the pair had.

Invite code attempts are limited per client address, and every test shares
the session's Redis, where those attempts are counted. So each couple pairs
from a home network of its own (a loopback address of its own, as two real
couples would), and the tests that try wrong codes do so from one too.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from heartline_protocol import CheckIn, CloseCode, Error, ErrorCode, NeedSpace, Ping, Pong
from tests.support.couples import Couple, Partner, add_device, pair_up
from tests.support.devices import Device, HubError
from tests.support.hubs import HubProcess

PAIR_TAG = "{{p:{pair}}}"


# Talking to the API.


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def error_code(self) -> str:
        assert isinstance(self.body, dict), self.body
        return str(self.body["error"]["code"])


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str | None = None,
    json: Any = None,
    data: bytes | None = None,
) -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with http.request(method, url, json=json, data=data, headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else None
        if body is None and response.status != 204:
            body = await response.text()
        return Reply(response.status, body, dict(response.headers))


def random_loopback_address() -> str:
    """An address of 127.0.0.0/8 other than 127.0.0.1: loopback, but a client of its own."""
    return f"127.{1 + secrets.randbelow(254)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


@asynccontextmanager
async def from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        yield session


@asynccontextmanager
async def elsewhere() -> AsyncIterator[aiohttp.ClientSession]:
    """A client on a home network of its own."""
    async with from_address(random_loopback_address()) as session:
        yield session


async def new_couple(hub_url: str) -> Couple:
    async with elsewhere() as home:
        return await pair_up(home, hub_url)


async def create_pair(http: aiohttp.ClientSession, hub_url: str) -> dict[str, Any]:
    created = await call(http, "POST", f"{hub_url}/v1/pairs", json={"device": {"kind": "phone"}})
    assert created.status == 201, created.body
    assert isinstance(created.body, dict)
    return created.body


async def join(hub_url: str, code: str) -> Reply:
    async with elsewhere() as home:
        return await call(
            home,
            "POST",
            f"{hub_url}/v1/pairs/join",
            json={"code": code, "device": {"kind": "phone"}},
        )


async def devices_of(http: aiohttp.ClientSession, hub_url: str, token: str) -> Reply:
    return await call(http, "GET", f"{hub_url}/v1/devices", token=token)


async def authenticates(http: aiohttp.ClientSession, hub_url: str, token: str) -> bool:
    reply = await devices_of(http, hub_url, token)
    assert reply.status in {200, 401}, reply
    return reply.status == 200


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalized(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def token_key(token: str) -> str:
    return f"hl:token:{sha256(token)}"


def invite_key(code: str) -> str:
    return f"hl:invite:{sha256(normalized(code))}"


def assert_json_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply
    assert isinstance(reply.body, dict)
    assert set(reply.body) == {"error"}
    error = reply.body["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    assert error["code"] in {member.value for member in ErrorCode}
    assert isinstance(error["message"], str)
    assert error["message"]


async def pong(device: Device) -> bool:
    """The connection is still open and served: a ping gets its pong."""
    await device.send(Ping(t=7))
    answer = await device.receive(lambda frame: isinstance(frame, Pong), timeout=3)
    return isinstance(answer, Pong) and answer.t == 7


# Looking at Redis.


@pytest.fixture
async def valkey(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def keys_matching(valkey: redis.Redis, pattern: str) -> list[bytes]:
    return [key async for key in valkey.scan_iter(match=pattern, count=1000)]


async def pair_keys(valkey: redis.Redis, pair: str) -> list[bytes]:
    return await keys_matching(valkey, f"*{PAIR_TAG.format(pair=pair)}*")


async def stored_bytes(valkey: redis.Redis, key: bytes) -> bytes:
    """The key's name and everything stored under it, whatever its type."""
    client: Any = valkey  # redis-py types replies as bytes | str; these are bytes
    kind = (await client.type(key)).decode()
    parts: list[bytes] = [key]
    if kind == "string":
        parts.append(await client.get(key) or b"")
    elif kind == "hash":
        for name, value in (await client.hgetall(key)).items():
            parts += [name, value]
    elif kind == "stream":
        for entry_id, fields in await client.xrange(key):
            parts.append(entry_id)
            for name, value in fields.items():
                parts += [name, value]
    elif kind == "zset":
        parts += await client.zrange(key, 0, -1)
    elif kind == "set":
        parts += list(await client.smembers(key))
    elif kind == "list":
        parts += await client.lrange(key, 0, -1)
    else:
        assert kind == "none", f"{key!r} has an unexpected type {kind}"
    return b"\0".join(parts)


# Creating a pair.


async def test_creating_a_pair_gives_the_pair_member_device_token_and_an_invite(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    before = int(time.time() * 1000)
    created = await create_pair(http, shared_hub.url)

    assert {"pair", "member", "device", "token", "invite"} <= set(created)
    for name in ("pair", "member", "device", "token"):
        assert isinstance(created[name], str)
        assert created[name]
    code, expires_at = created["invite"]["code"], created["invite"]["expires_at"]
    assert isinstance(code, str)
    assert len(normalized(code)) >= 8
    assert before + 86_400_000 - 5_000 <= expires_at <= int(time.time() * 1000) + 86_400_000

    listed = await devices_of(http, shared_hub.url, created["token"])
    assert listed.status == 200
    [device] = listed.body["devices"]
    assert (device["id"], device["kind"], device["scope"]) == (created["device"], "phone", "full")
    assert device.get("current") is True


async def test_a_token_carries_at_least_128_random_bits_and_no_two_are_alike(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    first = await create_pair(http, shared_hub.url)
    second = await create_pair(http, shared_hub.url)
    owner = Partner(first["pair"], first["member"], first["device"], first["token"])
    watch = await add_device(http, shared_hub.url, owner, kind="watch", scope="read")
    tokens = [first["token"], second["token"], watch.token]

    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert 1 <= len(token) <= 256
        assert all(char in string.printable and not char.isspace() for char in token)
        secret = token.removeprefix("hlt_")
        if set(secret) <= set(string.hexdigits):
            bits_per_char = 4
        else:
            assert re.fullmatch(r"[A-Za-z0-9_-]+", secret), token
            bits_per_char = 6
        assert len(secret) * bits_per_char >= 128, token
    assert len({token.removeprefix("hlt_")[:8] for token in tokens}) == len(tokens)


# Joining with the invite code.


@pytest.mark.parametrize(
    "typed",
    [str.lower, lambda code: code.replace("-", ""), lambda code: code.lower().replace("-", "")],
    ids=["lower-case", "without-dash", "lower-case-without-dash"],
)
async def test_the_partner_joins_with_the_code_however_it_is_typed(
    http: aiohttp.ClientSession, shared_hub: HubProcess, typed: Callable[[str], str]
) -> None:
    created = await create_pair(http, shared_hub.url)
    joined = await join(shared_hub.url, typed(created["invite"]["code"]))

    assert joined.status == 201, joined.body
    assert joined.body["pair"] == created["pair"]
    assert joined.body["partner"] == created["member"]
    assert joined.body["member"] != created["member"]
    assert joined.body["token"] != created["token"]

    b_phone = await Device.connect(http, shared_hub.ws_url, joined.body["token"])
    assert (b_phone.welcome.pair, b_phone.welcome.partner) == (created["pair"], created["member"])
    await b_phone.close()


async def test_an_invite_code_works_only_once(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    created = await create_pair(http, shared_hub.url)
    code = created["invite"]["code"]
    assert (await join(shared_hub.url, code)).status == 201

    again = await join(shared_hub.url, code)
    assert_json_error(again, 404, "not_found")


async def test_a_join_with_a_bad_device_kind_does_not_use_up_the_code(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    created = await create_pair(http, shared_hub.url)
    code = created["invite"]["code"]
    async with elsewhere() as home:
        refused = await call(
            home,
            "POST",
            f"{shared_hub.url}/v1/pairs/join",
            json={"code": code, "device": {"kind": "toaster"}},
        )
    assert_json_error(refused, 400, "invalid_field")
    assert (await join(shared_hub.url, code)).status == 201


async def test_an_expired_invite_code_is_not_found(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(invite_ttl_s="1")
    in_time = await create_pair(http, hub.url)
    too_late = await create_pair(http, hub.url)
    created_at = int(time.time() * 1000)
    assert 0 < too_late["invite"]["expires_at"] - created_at <= 1_000
    assert (await join(hub.url, in_time["invite"]["code"])).status == 201

    wait_s = (too_late["invite"]["expires_at"] - int(time.time() * 1000) + 300) / 1000
    await asyncio.sleep(max(0.0, wait_s))  # the point is the passing of time: nothing to await

    assert_json_error(await join(hub.url, too_late["invite"]["code"]), 404, "not_found")


async def test_guessing_invite_codes_is_rate_limited_per_address(
    http: aiohttp.ClientSession, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub(join_attempts_per_minute="3")
    created = await create_pair(http, hub.url)
    guesses = [f"ZZZZZ-{n:05d}" for n in range(4)]

    async with elsewhere() as guesser:
        answers = [
            await call(guesser, "POST", f"{hub.url}/v1/pairs/join", json={"code": guess})
            for guess in guesses
        ]
        right_code_too_late = await call(
            guesser, "POST", f"{hub.url}/v1/pairs/join", json={"code": created["invite"]["code"]}
        )

    for answer in answers[:3]:
        assert_json_error(answer, 404, "not_found")
    for limited in (answers[3], right_code_too_late):
        assert_json_error(limited, 429, "rate_limited")
        retry_after = limited.headers.get("Retry-After")
        assert retry_after is not None
        assert retry_after.isdigit()
        assert 1 <= int(retry_after) <= 60

    assert (await join(hub.url, created["invite"]["code"])).status == 201


async def test_a_third_member_cannot_be_invited(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await new_couple(shared_hub.url)
    for partner in (couple.a, couple.b):
        refused = await call(http, "POST", f"{shared_hub.url}/v1/pair/invite", token=partner.token)
        assert_json_error(refused, 409, "conflict")


async def test_a_new_invite_replaces_the_old_one_while_the_partner_has_not_joined(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    created = await create_pair(http, shared_hub.url)
    renewed = await call(http, "POST", f"{shared_hub.url}/v1/pair/invite", token=created["token"])
    assert renewed.status == 201, renewed.body
    new_code = renewed.body["invite"]["code"]
    assert normalized(new_code) != normalized(created["invite"]["code"])
    assert renewed.body["invite"]["expires_at"] > int(time.time() * 1000)

    assert_json_error(await join(shared_hub.url, created["invite"]["code"]), 404, "not_found")
    joined = await join(shared_hub.url, new_code)
    assert joined.status == 201
    assert joined.body["pair"] == created["pair"]


# Devices.


async def test_a_member_adds_devices_and_sees_only_their_own(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    couple = await new_couple(shared_hub.url)
    url = shared_hub.url
    added = []
    for kind, scope in (("watch", "read"), ("widget", "signal"), ("web", "full")):
        reply = await call(
            http, "POST", f"{url}/v1/devices", token=couple.a.token,
            json={"kind": kind, "scope": scope, "name": f"my {kind}"},
        )  # fmt: skip
        assert reply.status == 201, reply.body
        assert (reply.body["kind"], reply.body["scope"]) == (kind, scope)
        assert reply.body["name"] == f"my {kind}"
        added.append(reply.body)
    b_watch = await add_device(http, url, couple.b, kind="watch", scope="read")

    listed = await devices_of(http, url, couple.a.token)
    assert listed.status == 200
    shown = {device["id"]: device for device in listed.body["devices"]}
    assert set(shown) == {couple.a.device, *(device["id"] for device in added)}
    assert (shown[couple.a.device]["kind"], shown[couple.a.device]["scope"]) == ("phone", "full")
    for device in added:
        assert (shown[device["id"]]["kind"], shown[device["id"]]["scope"]) == (
            device["kind"],
            device["scope"],
        )
    assert shown[couple.a.device].get("current") is True

    b_listed = await devices_of(http, url, b_watch.token)
    assert b_listed.status == 200
    assert {device["id"] for device in b_listed.body["devices"]} == {
        couple.b.device,
        b_watch.device,
    }

    secrets_shown = [couple.a.token, couple.b.token, b_watch.token]
    secrets_shown += [device["token"] for device in added]
    for reply in (listed, b_listed):
        text = str(reply.body)
        for device in reply.body["devices"]:
            assert not {"token", "token_hash"} & set(device)
        for token in secrets_shown:
            assert token not in text
            assert sha256(token) not in text


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "toaster", "scope": "read"},
        {"kind": "watch", "scope": "admin"},
        {"kind": 7},
        {"kind": "watch", "scope": None},
    ],
    ids=["unknown-kind", "unknown-scope", "kind-not-a-string", "scope-null"],
)
async def test_an_unknown_device_kind_or_scope_is_an_invalid_field(
    http: aiohttp.ClientSession, shared_hub: HubProcess, body: dict[str, Any]
) -> None:
    created = await create_pair(http, shared_hub.url)
    refused = await call(
        http, "POST", f"{shared_hub.url}/v1/devices", token=created["token"], json=body
    )
    assert_json_error(refused, 400, "invalid_field")
    listed = await devices_of(http, shared_hub.url, created["token"])
    assert [device["id"] for device in listed.body["devices"]] == [created["device"]]


async def test_a_revoked_device_is_cut_off_within_a_second(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    url = shared_hub.url
    couple = await new_couple(url)
    watch = await add_device(http, url, couple.a, kind="watch", scope="signal")
    a_phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    a_watch = await Device.connect(http, shared_hub.ws_url, watch.token)

    started = time.monotonic()
    revoked = await call(http, "DELETE", f"{url}/v1/devices/{watch.device}", token=couple.a.token)
    close_code = await a_watch.closed(timeout=5)
    elapsed = time.monotonic() - started

    assert revoked.status == 204
    assert close_code == CloseCode.UNAUTHORIZED
    assert elapsed < 1.0, f"closed after {elapsed:.2f} s"

    assert_json_error(await devices_of(http, url, watch.token), 401, "unauthorized")
    with pytest.raises(HubError) as refused:
        await Device.connect(http, shared_hub.ws_url, watch.token)
    assert refused.value.code == ErrorCode.UNAUTHORIZED

    listed = await devices_of(http, url, couple.a.token)
    assert watch.device not in {device["id"] for device in listed.body["devices"]}
    assert await pong(a_phone)
    await a_phone.close()


async def test_a_revoked_device_is_told_unauthorized_before_it_is_closed(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    """SPEC.md 8.1: ``unauthorized`` is "also sent before closing a session whose
    device was revoked"."""
    url = shared_hub.url
    couple = await new_couple(url)
    watch = await add_device(http, url, couple.a, kind="watch", scope="read")
    a_watch = await Device.connect(http, shared_hub.ws_url, watch.token)

    revoked = await call(http, "DELETE", f"{url}/v1/devices/{watch.device}", token=couple.a.token)
    assert revoked.status == 204
    assert await a_watch.closed(timeout=5) == CloseCode.UNAUTHORIZED
    errors = [frame for frame in a_watch.inbox if isinstance(frame, Error)]
    assert [error.code for error in errors] == [ErrorCode.UNAUTHORIZED]


@pytest.mark.parametrize("ending", ["revoke", "unpair"])
async def test_a_device_busy_for_a_moment_still_learns_the_terminal_close_code(
    http: aiohttp.ClientSession, shared_hub: HubProcess, ending: str
) -> None:
    """A phone busy drawing a frame reads the close a little late; it must still
    see 4500 or 4501 (terminal: do not reconnect), not 1006 (reconnect)."""
    url = shared_hub.url
    couple = await new_couple(url)
    watch = await add_device(http, url, couple.a, kind="watch", scope="read")
    a_watch = await Device.connect(http, shared_hub.ws_url, watch.token)

    if ending == "revoke":
        path, expected = f"/v1/devices/{watch.device}", CloseCode.UNAUTHORIZED
    else:
        path, expected = "/v1/pair", CloseCode.UNPAIRED
    assert (await call(http, "DELETE", f"{url}{path}", token=couple.a.token)).status == 204
    await asyncio.sleep(0.2)  # the point: the device does not read for a moment

    assert await a_watch.closed(timeout=5) == expected


@pytest.mark.parametrize("scope", ["signal", "read"])
async def test_a_signal_or_read_token_cannot_manage_the_pair(
    http: aiohttp.ClientSession, shared_hub: HubProcess, scope: str
) -> None:
    url = shared_hub.url
    couple = await new_couple(url)
    limited = await add_device(http, url, couple.a, kind="widget", scope=scope)

    attempts = [
        await call(http, "POST", f"{url}/v1/devices", token=limited.token,
                   json={"kind": "web", "scope": "full"}),
        await call(http, "DELETE", f"{url}/v1/devices/{couple.a.device}", token=limited.token),
        await call(http, "DELETE", f"{url}/v1/devices/{limited.device}", token=limited.token),
        await call(http, "POST", f"{url}/v1/pair/invite", token=limited.token),
        await call(http, "DELETE", f"{url}/v1/pair", token=limited.token),
    ]  # fmt: skip
    for attempt in attempts:
        assert_json_error(attempt, 403, "forbidden")

    listed = await devices_of(http, url, limited.token)
    assert listed.status == 200
    assert {device["id"] for device in listed.body["devices"]} == {
        couple.a.device,
        limited.device,
    }
    assert await authenticates(http, url, couple.a.token)
    assert await authenticates(http, url, couple.b.token)


async def test_revoking_the_partners_device_is_not_found(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    url = shared_hub.url
    couple = await new_couple(url)
    b_phone = await Device.connect(http, shared_hub.ws_url, couple.b.token)

    refused = await call(
        http, "DELETE", f"{url}/v1/devices/{couple.b.device}", token=couple.a.token
    )
    assert_json_error(refused, 404, "not_found")
    unknown = await call(http, "DELETE", f"{url}/v1/devices/d_nosuchdevice", token=couple.a.token)
    assert_json_error(unknown, 404, "not_found")

    assert await authenticates(http, url, couple.b.token)
    assert await pong(b_phone)
    await b_phone.close()


# Unpairing.


async def test_unpairing_erases_every_key_and_closes_both_partners(
    http: aiohttp.ClientSession, shared_hub: HubProcess, valkey: redis.Redis
) -> None:
    url = shared_hub.url
    couple = await new_couple(url)
    a_watch = await add_device(http, url, couple.a, kind="watch", scope="read")
    tokens = [couple.a.token, couple.b.token, a_watch.token]
    connected = [await Device.connect(http, shared_hub.ws_url, token) for token in tokens]
    await connected[0].signal(CheckIn(note="thinking of you"))
    await connected[1].signal(NeedSpace(duration=3600, note="a long walk"))
    assert await pair_keys(valkey, couple.a.pair)
    assert all([await valkey.exists(token_key(token)) for token in tokens])

    unpaired = await call(http, "DELETE", f"{url}/v1/pair", token=couple.b.token)
    assert unpaired.status == 204
    codes = await asyncio.gather(*(device.closed(timeout=5) for device in connected))
    assert codes == [CloseCode.UNPAIRED] * len(connected)

    for token in tokens:
        assert_json_error(await devices_of(http, url, token), 401, "unauthorized")
        with pytest.raises(HubError) as refused:
            await Device.connect(http, shared_hub.ws_url, token)
        assert refused.value.code == ErrorCode.UNAUTHORIZED
    assert await pair_keys(valkey, couple.a.pair) == []
    assert [token for token in tokens if await valkey.exists(token_key(token))] == []


async def test_unpairing_before_the_partner_joined_erases_the_invite(
    http: aiohttp.ClientSession, shared_hub: HubProcess, valkey: redis.Redis
) -> None:
    created = await create_pair(http, shared_hub.url)
    code = created["invite"]["code"]
    assert await valkey.exists(invite_key(code))

    unpaired = await call(http, "DELETE", f"{shared_hub.url}/v1/pair", token=created["token"])
    assert unpaired.status == 204

    assert not await valkey.exists(invite_key(code))
    assert not await valkey.exists(token_key(created["token"]))
    assert await pair_keys(valkey, created["pair"]) == []
    assert_json_error(await join(shared_hub.url, code), 404, "not_found")


# Secrets at rest.


async def test_tokens_are_stored_only_as_hashes(
    http: aiohttp.ClientSession, shared_hub: HubProcess, valkey: redis.Redis
) -> None:
    url = shared_hub.url
    couple = await new_couple(url)
    watch = await add_device(http, url, couple.b, kind="watch", scope="read")
    tokens = [couple.a.token, couple.b.token, watch.token]
    b_watch = await Device.connect(http, shared_hub.ws_url, watch.token)

    for token in tokens:
        assert await valkey.exists(token_key(token)), "a token is stored under its hash"
    keys = await pair_keys(valkey, couple.a.pair)
    keys += await keys_matching(valkey, "hl:token:*")
    keys += await keys_matching(valkey, "hl:invite:*")
    assert len(keys) > len(tokens)
    for key in keys:
        stored = await stored_bytes(valkey, key)
        for token in tokens:
            assert token.removeprefix("hlt_").encode() not in stored, key
    await b_watch.close()


# Errors.


async def test_a_malformed_body_is_a_json_error(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    url = shared_hub.url
    for body in (b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe"):
        reply = await call(http, "POST", f"{url}/v1/pairs", data=body)
        assert reply.status == 400, (body, reply)
        assert reply.error_code in {"bad_frame", "invalid_field"}
        assert_json_error(reply, 400, reply.error_code)


async def test_a_join_without_a_code_is_an_invalid_field(shared_hub: HubProcess) -> None:
    async with elsewhere() as home:
        for body in ({}, {"code": ""}, {"code": 12345}, {"code": "X" * 100}):
            reply = await call(home, "POST", f"{shared_hub.url}/v1/pairs/join", json=body)
            assert_json_error(reply, 400, "invalid_field")


async def test_a_body_over_the_size_limit_is_a_json_error(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    huge = b'{"device": {"kind": "phone", "name": "' + b"x" * 100_000 + b'"}}'
    reply = await call(http, "POST", f"{shared_hub.url}/v1/pairs", data=huge)
    assert_json_error(reply, 413, "too_large")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer hlt_not-a-token", "Basic dXNlcjpwYXNz", "hlt_x"],
    ids=["none", "empty", "scheme-only", "blank", "garbage", "basic", "no-scheme"],
)
async def test_a_missing_or_garbage_bearer_token_is_unauthorized(
    http: aiohttp.ClientSession, shared_hub: HubProcess, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.get(f"{shared_hub.url}/v1/devices", headers=headers) as response:
        reply = Reply(response.status, await response.json(), dict(response.headers))
    assert_json_error(reply, 401, "unauthorized")


async def test_no_endpoint_reads_a_token_from_the_query_string(
    http: aiohttp.ClientSession, shared_hub: HubProcess
) -> None:
    url = shared_hub.url
    created = await create_pair(http, url)
    token, device = created["token"], created["device"]
    endpoints = [
        ("GET", "/v1/devices"),
        ("POST", "/v1/devices"),
        ("DELETE", f"/v1/devices/{device}"),
        ("POST", "/v1/pair/invite"),
        ("DELETE", "/v1/pair"),
    ]
    for method, path in endpoints:
        for name in ("token", "access_token", "bearer"):
            async with http.request(method, f"{url}{path}", params={name: token}) as response:
                reply = Reply(response.status, await response.json(), dict(response.headers))
            assert_json_error(reply, 401, "unauthorized")

    listed = await devices_of(http, url, token)
    assert [entry["id"] for entry in listed.body["devices"]] == [device]


async def test_unpairing_also_forgets_the_pairs_pending_timers(
    http: aiohttp.ClientSession, shared_hub: HubProcess, valkey: redis.Redis
) -> None:
    couple = await pair_up(http, shared_hub.url)
    phone = await Device.connect(http, shared_hub.ws_url, couple.a.token)
    await phone.signal(NeedSpace(duration=3600, note="a long walk"))

    async def timers_of_pair() -> list[bytes]:
        found = []
        async for key in valkey.scan_iter(match="hl:timers:*"):
            found += [name async for name, _ in valkey.zscan_iter(key, match=f"{couple.a.pair}|*")]
        return found

    assert len(await timers_of_pair()) == 2
    unpaired = await call(http, "DELETE", f"{shared_hub.url}/v1/pair", token=couple.a.token)
    assert unpaired.status == 204
    assert await timers_of_pair() == []
    await phone.closed()
