"""Pairing over the hub's HTTP API, as two partners would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["Couple", "Partner", "add_device", "pair_up"]


@dataclass(frozen=True)
class Partner:
    pair: str
    member: str
    device: str
    token: str


@dataclass(frozen=True)
class Couple:
    a: Partner
    """The partner who created the pair (in the stories: the one who withdraws)."""
    b: Partner
    """The partner who joined with the invite code (the one who chases)."""


async def pair_up(http: aiohttp.ClientSession, hub_url: str) -> Couple:
    created = await _post(http, f"{hub_url}/v1/pairs", {"device": {"kind": "phone"}})
    joined = await _post(
        http,
        f"{hub_url}/v1/pairs/join",
        {"code": created["invite"]["code"], "device": {"kind": "phone"}},
    )
    a = Partner(created["pair"], created["member"], created["device"], created["token"])
    b = Partner(joined["pair"], joined["member"], joined["device"], joined["token"])
    return Couple(a, b)


async def add_device(
    http: aiohttp.ClientSession, hub_url: str, owner: Partner, kind: str, scope: str = "full"
) -> Partner:
    answer = await _post(
        http, f"{hub_url}/v1/devices", {"kind": kind, "scope": scope}, token=owner.token
    )
    return Partner(owner.pair, owner.member, answer["device"], answer["token"])


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as response:
        payload: dict[str, Any] = await response.json()
        assert response.status == 201, payload
        return payload
