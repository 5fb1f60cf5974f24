"""Pairing and devices over the hub's HTTP API (JSON under ``/v1``).

The standard library's HTTP client, run in a thread, so that a frontend
installs nothing beyond ``websockets``. Tokens travel in the Authorization
header only. ``hub`` is the hub's base URL, e.g. ``http://127.0.0.1:8080``;
:func:`websocket_url` gives the WebSocket URL that :func:`heartline.connect`
takes.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import HeartlineError, HubError

__all__ = [
    "Credentials",
    "DeviceInfo",
    "HubUnreachable",
    "Invite",
    "add_device",
    "create_pair",
    "join_pair",
    "list_devices",
    "new_invite",
    "revoke_device",
    "unpair",
    "websocket_url",
]

TIMEOUT_S = 10.0


class HubUnreachable(HeartlineError):
    """The hub could not be reached over HTTP."""


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    expires_at: int
    """Server time, milliseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a device needs to connect: keep the token secret."""

    hub: str
    pair: str
    member: str
    device: str
    token: str
    invite: Invite | None = None
    partner: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(hub={self.hub!r}, pair={self.pair!r}, device={self.device!r})"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    kind: str
    scope: str
    name: str | None
    created: int
    current: bool = False


def websocket_url(hub: str) -> str:
    """``http://host:port`` -> ``ws://host:port/v1/ws`` (``https`` -> ``wss``).

    A path prefix is kept (a hub behind a proxy at ``https://host/heartline``
    answers at ``wss://host/heartline/v1/ws``), as the HTTP calls keep it.
    """
    parts = urlsplit(hub)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/ws"):
        path += "/v1/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def create_pair(hub: str, *, kind: str = "cli", name: str | None = None) -> Credentials:
    """A new pair with this device as its first member, and an invite code for the partner."""
    body = await _request(hub, "POST", "/v1/pairs", {"device": _device(kind, name)})
    invite = Invite(body["invite"]["code"], body["invite"]["expires_at"])
    return Credentials(hub, body["pair"], body["member"], body["device"], body["token"], invite)


async def join_pair(
    hub: str, code: str, *, kind: str = "cli", name: str | None = None
) -> Credentials:
    """Join the pair of an invite code (single use) as its second member."""
    body = await _request(
        hub, "POST", "/v1/pairs/join", {"code": code, "device": _device(kind, name)}
    )
    return Credentials(
        hub, body["pair"], body["member"], body["device"], body["token"], partner=body["partner"]
    )


async def new_invite(hub: str, token: str) -> Invite:
    body = await _request(hub, "POST", "/v1/pair/invite", {}, token=token)
    return Invite(body["invite"]["code"], body["invite"]["expires_at"])


async def add_device(
    hub: str, token: str, *, kind: str, scope: str = "full", name: str | None = None
) -> tuple[DeviceInfo, str]:
    """Add a device to this member; its info and its token."""
    body = await _request(
        hub, "POST", "/v1/devices", {"kind": kind, "scope": scope, "name": name}, token=token
    )
    return _device_info(body), body["token"]


async def list_devices(hub: str, token: str) -> list[DeviceInfo]:
    body = await _request(hub, "GET", "/v1/devices", None, token=token)
    return [_device_info(device) for device in body["devices"]]


async def revoke_device(hub: str, token: str, device_id: str) -> None:
    await _request(hub, "DELETE", f"/v1/devices/{device_id}", None, token=token)


async def unpair(hub: str, token: str) -> None:
    """Dissolve the pair: the hub erases all of its data."""
    await _request(hub, "DELETE", "/v1/pair", None, token=token)


def _device(kind: str, name: str | None) -> dict[str, Any]:
    return {"kind": kind} if name is None else {"kind": kind, "name": name}


def _device_info(body: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(
        id=body.get("id") or body["device"],
        kind=body["kind"],
        scope=body["scope"],
        name=body.get("name"),
        created=body["created"],
        current=bool(body.get("current", False)),
    )


async def _request(
    hub: str, method: str, path: str, body: dict[str, Any] | None, *, token: str | None = None
) -> dict[str, Any]:
    return await asyncio.to_thread(_request_blocking, hub, method, path, body, token)


def _request_blocking(
    hub: str, method: str, path: str, body: dict[str, Any] | None, token: str | None
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(hub.rstrip("/") + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            payload = response.read()
    except urllib.error.HTTPError as refused:
        raise _hub_error(refused) from None
    except (urllib.error.URLError, OSError) as error:
        raise HubUnreachable(f"cannot reach the hub at {hub}: {error}") from None
    return json.loads(payload) if payload else {}


def _hub_error(refused: urllib.error.HTTPError) -> HubError:
    try:
        error = json.loads(refused.read())["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "internal", f"HTTP {refused.code}"
    retry_after = refused.headers.get("Retry-After")
    retry_after_ms = int(retry_after) * 1000 if retry_after and retry_after.isdigit() else None
    return HubError(code, message, retry_after_ms)
