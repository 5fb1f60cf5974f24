"""Quick actions: a signal sent over plain HTTP, for a watch that cannot hold a WebSocket.

``POST /v1/signals`` takes one signal of the vocabulary as a JSON object,
the fields of a ``signal`` frame without ``type`` and ``id`` (SPEC.md 5),
for example ``{"kind": "need_space", "duration": 1800, "note": "a walk"}``.
The ``Idempotency-Key`` header is required and is the signal's client
message id: a watch on a flaky link resends with the same key, and gets the
event stored the first time (``Idempotent-Replayed: true``) while nothing
new is stored; the same key with a different signal is ``409 conflict``.

The signal is checked by the protocol's own decoder (the same limits and
error codes as on the WebSocket; fields the kind does not know are ignored,
whatever JSON put in them) and stored by signalling.py, exactly as a
session stores one. A ``read``-scoped token gets ``403 forbidden``. Each
device may send ``--signal-rate`` signals a second (``--signal-burst`` at
once) this way, counted on this hub. The answer is ``201`` with
``{"event": ...}``, the stored event as SPEC.md 4.5 shows it.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import msgpack
from aiohttp import web

from heartline_protocol import MAX_INT, SIGNAL_KINDS, ErrorCode, Signal, decode_from_client

from .http_api import ApiError, identity_of, json_body, json_errors
from .node import Node
from .ratelimit import TokenBucket
from .signalling import admit, store_signal

__all__ = ["IDEMPOTENCY_KEY", "MAX_DEVICES_LIMITED", "add_routes"]

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_DEVICES_LIMITED = 10_000
"""Devices whose signal budget this hub keeps; the least recently seen is forgotten first."""
_KIND_ONLY = frozenset({"kind"})
_FIELDS_OF_KIND = {
    kind: _KIND_ONLY | {field.name for field in dataclasses.fields(body)}
    for kind, body in SIGNAL_KINDS.items()
}
"""The body fields each signal kind knows (``kind`` alone for a kind it does not)."""


def add_routes(app: web.Application, node: Node) -> None:
    app.router.add_post("/v1/signals", json_errors(_Actions(node).signal))


class _Actions:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()

    async def signal(self, request: web.Request) -> web.Response:
        identity = await identity_of(self._node, request)
        signal = _signal_of(
            await json_body(request), request.headers.get(IDEMPOTENCY_KEY), self._node
        )
        admit(self._node, identity, signal.id, self._bucket(identity.device))
        recorded = await store_signal(self._node, identity, signal)
        response = web.json_response({"event": recorded.event.to_map()}, status=201)
        if recorded.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def _bucket(self, device: str) -> TokenBucket:
        bucket = self._buckets.get(device)
        if bucket is None:
            settings = self._node.settings
            bucket = self._buckets[device] = TokenBucket(
                settings.signal_rate, settings.signal_burst
            )
            if len(self._buckets) > MAX_DEVICES_LIMITED:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(device)
        return bucket


def _signal_of(body: dict[str, Any], key: str | None, node: Node) -> Signal:
    """The signal the body and key describe, checked as a WebSocket frame would be."""
    if key is None:
        raise ApiError(ErrorCode.INVALID_FIELD, f"{IDEMPOTENCY_KEY}: the header is required")
    for reserved in ("type", "id"):
        if reserved in body:
            raise ApiError(
                ErrorCode.INVALID_FIELD,
                f"{reserved}: not part of the body (the {IDEMPOTENCY_KEY} header is the id)",
            )
    fields = {name: _integral(value) for name, value in _known_fields(body).items()}
    try:
        packed = msgpack.packb({"type": "signal", "id": key, **fields}, use_bin_type=True)
    except UnicodeEncodeError:
        raise ApiError(ErrorCode.BAD_FRAME, "the body holds text that is not Unicode") from None
    except (OverflowError, ValueError, TypeError):
        raise ApiError(ErrorCode.BAD_FRAME, "the body holds a number out of range") from None
    frame = decode_from_client(packed, node.limits)
    assert isinstance(frame, Signal)
    return frame


def _known_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields the signal's kind knows.

    The rest are ignored, as on the WebSocket (SPEC.md 3.3), and never
    encoded: JSON can carry what msgpack cannot (integers past 64 bits,
    lone surrogates), and that must not fail a signal whose own fields are good.
    """
    kind = body.get("kind")
    known = _FIELDS_OF_KIND.get(kind, _KIND_ONLY) if isinstance(kind, str) else _KIND_ONLY
    return {name: value for name, value in body.items() if name in known}


def _integral(value: Any) -> Any:
    """JSON has one number type: ``1800.0`` is the integer 1800 (JSON Schema agrees)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INT:
        return int(value)
    return value
