"""The HTTP API beside the WebSocket: pairing and devices, JSON under ``/v1``.

=======  =====================  ==========================================
method   path                   does
=======  =====================  ==========================================
POST     /v1/pairs              create a pair: first member, device, token,
                                invite code
POST     /v1/pairs/join         join with an invite code (single use,
                                expires, attempts rate-limited per address)
POST     /v1/pair/invite        a new invite code while the partner has not
                                joined (full scope)
DELETE   /v1/pair               unpair: erase every key of the pair
                                (full scope)
GET      /v1/devices            the caller's member's devices
POST     /v1/devices            add a device to the caller's membership
                                (full scope)
DELETE   /v1/devices/{device}   revoke one of the member's devices; its
                                connections close within a second
=======  =====================  ==========================================

Authenticated requests carry ``Authorization: Bearer <token>``; a token
never travels in a URL. Errors are ``{"error": {"code", "message"}}`` with
the protocol's error codes (SPEC.md 8.1).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TypeVar

import msgpack
from aiohttp import web

from heartline_protocol import MAX_INT, ErrorCode, ProtocolError

from . import decisions
from .auth import (
    authenticate,
    bearer_token,
    hash_secret,
    new_id,
    new_invite_code,
    new_token,
    normalize_invite_code,
)
from .clock import now_ms
from .journal import PairGone
from .node import Node
from .store import DeviceKind, DeviceRecord, Scope, StoreUnavailable, TokenRecord

__all__ = [
    "MSGPACK",
    "ApiError",
    "add_routes",
    "error_response",
    "identity_of",
    "json_body",
    "json_errors",
    "negotiated",
    "query_int",
    "query_number",
]

E = TypeVar("E", bound=StrEnum)
MAX_NAME_CHARS = 64
JOIN_WINDOW_S = 60
STATUS = {
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.INVALID_FIELD: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class ApiError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, retry_after_s: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


MSGPACK = "application/msgpack"
_MSGPACK_TYPES = (MSGPACK, "application/x-msgpack")


def negotiated(request: web.Request, body: dict[str, Any]) -> web.Response:
    """``body`` as JSON, or as msgpack when the request's ``Accept`` names it."""
    if any(kind in request.headers.get("Accept", "") for kind in _MSGPACK_TYPES):
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        response = web.Response(body=packed, content_type=MSGPACK)
    else:
        response = web.json_response(body)
    response.headers["Vary"] = "Accept"
    return response


def query_number(request: web.Request, name: str, default: float = 0.0) -> float:
    """A finite number from the query string, not negative; ``default`` when it is absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(ErrorCode.INVALID_FIELD, f"{name}: a number, not {raw[:16]!r}") from None
    if not 0 <= value < float("inf"):
        raise ApiError(ErrorCode.INVALID_FIELD, f"{name}: a number, not negative")
    return value


def query_int(request: web.Request, name: str, default: int = 0) -> int:
    """An integer from the query string, 0 to 2^53 - 1; ``default`` when it is absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_INT:
        raise ApiError(ErrorCode.INVALID_FIELD, f"{name}: an integer from 0 to {MAX_INT}")
    return int(raw)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, node: Node) -> None:
    api = _Api(node)
    app.middlewares.append(_json_http_errors)
    app.router.add_post("/v1/pairs", json_errors(api.create_pair))
    app.router.add_post("/v1/pairs/join", json_errors(api.join_pair))
    app.router.add_post("/v1/pair/invite", json_errors(api.new_invite))
    app.router.add_delete("/v1/pair", json_errors(api.unpair))
    app.router.add_get("/v1/devices", json_errors(api.list_devices))
    app.router.add_post("/v1/devices", json_errors(api.add_device))
    app.router.add_delete("/v1/devices/{device}", json_errors(api.revoke_device))


_HTTP_CODES = {404: "not_found", 405: "not_found", 413: "too_large"}


@web.middleware
async def _json_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (no such route, body too large) as JSON errors too."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "bad_frame" if error.status < 500 else "internal")
        response = error_response(error.status, code, error.reason)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response


def _status_of(error: ProtocolError) -> int:
    """A field too long is the request's fault (400); 413 is for a body over the size limit."""
    if error.code is ErrorCode.TOO_LARGE and error.field is not None:
        return 400
    return STATUS.get(error.code, 400)


def json_errors(handler: Handler) -> Handler:
    """Answer the errors a handler raises as JSON error responses with their HTTP status."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            response = error_response(STATUS[error.code], error.code.value, error.message)
            if error.retry_after_s is not None:
                response.headers["Retry-After"] = str(error.retry_after_s)
            return response
        except ProtocolError as error:
            response = error_response(_status_of(error), error.code.value, error.message)
            if error.retry_after_ms is not None:
                response.headers["Retry-After"] = str(max(1, -(-error.retry_after_ms // 1000)))
            return response
        except StoreUnavailable:
            response = error_response(503, "unavailable", "storage unavailable, retry")
            response.headers["Retry-After"] = "1"
            return response
        except PairGone:
            return error_response(404, "not_found", "the pair no longer exists")

    return wrapped


class _Api:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._store = node.store

    async def create_pair(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        kind, name = _device_kind(body.get("device")), _device_name(body.get("device"))
        pair_id, member = new_id("p"), new_id("m")
        device, token = self._new_device(member, kind, Scope.FULL, name)
        code = new_invite_code()
        code_hash = hash_secret(normalize_invite_code(code))
        now = now_ms()
        if not await self._store.create_pair(
            pair_id, device, invite_hash=code_hash, epoch=new_id("ep"), now=now
        ):
            raise ApiError(ErrorCode.CONFLICT, "pair id taken, retry")
        await self._store.save_token(device.token_hash, _token_record(pair_id, device))
        await self._store.save_invite(code_hash, pair_id, self._node.settings.invite_ttl_s)
        await self._node.journal.record(pair_id, decisions.joined(member, device.id))
        invite = self._invite_json(code, now)
        return _created({"pair": pair_id, "member": member, "device": device.id,
                         "token": token, "invite": invite})  # fmt: skip

    async def join_pair(self, request: web.Request) -> web.Response:
        await self._limit_join_attempts(request)
        body = await json_body(request)
        code = body.get("code")
        if not isinstance(code, str) or not 1 <= len(code) <= 32:
            raise ApiError(ErrorCode.INVALID_FIELD, "code: the invite code is required")
        kind, name = _device_kind(body.get("device")), _device_name(body.get("device"))
        code_hash = hash_secret(normalize_invite_code(code))
        pair_id = await self._store.redeem_invite(code_hash)
        member = new_id("m")
        device, token = self._new_device(member, kind, Scope.FULL, name)
        if (
            pair_id is None
            or await self._store.join_pair(pair_id, device, invite_hash=code_hash, now=now_ms())
            != 1
        ):
            await self._store.count_failed_join(request.remote or "unknown", JOIN_WINDOW_S)
            raise ApiError(ErrorCode.NOT_FOUND, "code: unknown, used or expired invite code")
        await self._store.save_token(device.token_hash, _token_record(pair_id, device))
        await self._node.journal.record(pair_id, decisions.joined(member, device.id))
        partner = [m for m in await self._store.members(pair_id) if m != member]
        return _created({"pair": pair_id, "member": member, "device": device.id, "token": token,
                         "partner": partner[0] if partner else None})  # fmt: skip

    async def new_invite(self, request: web.Request) -> web.Response:
        identity = await self._identity(request, manage=True)
        if len(await self._store.members(identity.pair)) >= 2:
            raise ApiError(ErrorCode.CONFLICT, "your partner has already joined")
        code = new_invite_code()
        code_hash = hash_secret(normalize_invite_code(code))
        await self._store.replace_invite(identity.pair, code_hash, self._node.settings.invite_ttl_s)
        return _created({"invite": self._invite_json(code, now_ms())})

    async def unpair(self, request: web.Request) -> web.Response:
        identity = await self._identity(request, manage=True)
        await self._store.erase_pair(identity.pair)
        await self._store.erase_timers(identity.pair, self._node.timers.shard_of(identity.pair))
        self._node.journal.forget(identity.pair)
        await self._store.publish_control(identity.pair, b"u")
        return web.Response(status=204)

    async def list_devices(self, request: web.Request) -> web.Response:
        identity = await self._identity(request)
        devices = [
            _device_json(device, current=device.id == identity.device)
            for device in await self._store.devices(identity.pair)
            if device.member == identity.member
        ]
        return web.json_response({"devices": devices})

    async def add_device(self, request: web.Request) -> web.Response:
        identity = await self._identity(request, manage=True)
        body = await json_body(request)
        scope = _choice(body.get("scope", Scope.FULL.value), Scope, "scope")
        device, token = self._new_device(
            identity.member, _device_kind(body), scope, _device_name(body)
        )
        await self._store.add_device(identity.pair, device)
        await self._store.save_token(device.token_hash, _token_record(identity.pair, device))
        return _created({"device": device.id, "token": token, **_device_json(device)})

    async def revoke_device(self, request: web.Request) -> web.Response:
        identity = await self._identity(request, manage=True)
        device_id = request.match_info["device"]
        devices = {d.id: d for d in await self._store.devices(identity.pair)}
        target = devices.get(device_id)
        if target is None or target.member != identity.member:
            raise ApiError(ErrorCode.NOT_FOUND, "device: no such device of yours")
        await self._store.remove_device(identity.pair, device_id)
        await self._store.publish_control(identity.pair, b"r" + device_id.encode())
        return web.Response(status=204)

    async def _identity(self, request: web.Request, *, manage: bool = False) -> TokenRecord:
        return await identity_of(self._node, request, manage=manage)

    async def _limit_join_attempts(self, request: web.Request) -> None:
        """Wrong codes are counted per address: guessing a code is slowed, pairing is not."""
        failures = await self._store.failed_joins(request.remote or "unknown")
        if failures >= self._node.settings.join_attempts_per_minute:
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                "too many invite code attempts, wait a minute",
                retry_after_s=JOIN_WINDOW_S,
            )

    def _new_device(
        self, member: str, kind: DeviceKind, scope: Scope, name: str | None
    ) -> tuple[DeviceRecord, str]:
        token = new_token()
        record = DeviceRecord(
            id=new_id("d"),
            member=member,
            kind=kind,
            scope=scope,
            token_hash=hash_secret(token),
            created=now_ms(),
            name=name,
        )
        return record, token

    def _invite_json(self, code: str, now: int) -> dict[str, Any]:
        return {"code": code, "expires_at": now + self._node.settings.invite_ttl_s * 1000}


async def identity_of(node: Node, request: web.Request, *, manage: bool = False) -> TokenRecord:
    """Who the request's bearer token speaks for; ``manage``: only a full-scope token."""
    identity = await authenticate(node.store, bearer_token(request.headers))
    if identity is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "a valid bearer token is required")
    if manage and not identity.scope.may_manage:
        raise ApiError(ErrorCode.FORBIDDEN, "this device's token may not manage the pair")
    return identity


def _created(payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=201)


def _token_record(pair_id: str, device: DeviceRecord) -> TokenRecord:
    return TokenRecord(pair=pair_id, member=device.member, device=device.id, scope=device.scope)


def _device_json(device: DeviceRecord, *, current: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": device.id,
        "kind": device.kind.value,
        "scope": device.scope.value,
        "name": device.name,
        "created": device.created,
    }
    if current:
        shown["current"] = True
    return shown


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ``{}`` when it has no body."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(ErrorCode.BAD_FRAME, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(ErrorCode.BAD_FRAME, "the body must be a JSON object")
    return body


def _device_kind(device: Any) -> DeviceKind:
    spec = _device_spec(device)
    return _choice(spec.get("kind", DeviceKind.PHONE.value), DeviceKind, "device.kind")


def _device_name(device: Any) -> str | None:
    name = _device_spec(device).get("name")
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise ApiError(ErrorCode.INVALID_FIELD, f"name: a string of at most {MAX_NAME_CHARS}")
    return name


def _device_spec(device: Any) -> dict[str, Any]:
    if device is None:
        return {}
    if not isinstance(device, dict):
        raise ApiError(ErrorCode.INVALID_FIELD, "device: an object with kind and name")
    return device


def _choice(value: Any, enum_type: type[E], field: str) -> E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise ApiError(ErrorCode.INVALID_FIELD, f"{field}: one of {allowed}") from None
