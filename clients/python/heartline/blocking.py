"""Heartline for scripts that do not use asyncio: a widget refresher, a cron job.

::

    import heartline.blocking as hl

    state = hl.fetch_state(url, token)
    hl.check_in(url, token, note="thinking of you")

Each function runs an event loop of its own (``asyncio.run``): it connects,
does one thing and closes, so a script needs no ``async`` at all. That is
also why none of them may be called from a running event loop: a nested
``asyncio.run`` is impossible, and waiting there would freeze every other
task of that loop. Async code uses :func:`heartline.connect` and
:mod:`heartline.http`, which these functions wrap; calling one of these from
a running loop raises :class:`RuntimeError` that says so.

``url`` is the hub's WebSocket URL (``ws://host:port/v1/ws``); the hub's
HTTP base (``http://host:port``, what :class:`~heartline.http.Credentials`
keeps as ``hub``) is accepted too and converted with
:func:`~heartline.http.websocket_url`. ``timeout`` bounds the whole call,
connecting included; when it runs out the call raises
:class:`~heartline.NotDelivered`, and a signal may then have been stored:
sending it again with the same ``id`` is safe, the hub answers with the
event it stored the first time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from heartline_protocol import (
    Ack,
    CheckIn,
    Event,
    FeelingDisconnected,
    ImBack,
    NeedSpace,
    SignalBody,
    State,
)

from . import http
from .client import Heartline, connect
from .connection import Options
from .errors import NotDelivered
from .http import Credentials, DeviceInfo, Invite, websocket_url

__all__ = [
    "ack",
    "add_device",
    "check_in",
    "create_pair",
    "feeling_disconnected",
    "fetch_state",
    "im_back",
    "join_pair",
    "list_devices",
    "need_space",
    "new_invite",
    "revoke_device",
    "send_signal",
    "unpair",
]

TIMEOUT_S = 10.0

P = ParamSpec("P")
T = TypeVar("T")


# The shared state and signals, over one short WebSocket session each.


def fetch_state(url: str, token: str, *, timeout: float = TIMEOUT_S) -> State:
    """The pair's state as the hub has it now: both members' status, spaces, open bids.

    Only the welcome is read; no event is consumed, and the partner's
    "delivered" marks are left alone.
    """
    instead = "async with heartline.connect(url, token) as hl: ... hl.state"
    return _run("fetch_state", instead, _state, url, token, timeout)


def send_signal(
    url: str, token: str, body: SignalBody, *, timeout: float = TIMEOUT_S, id: str | None = None
) -> Event:
    """Send one signal (a heartline_protocol ``NeedSpace``, ``ImBack``, ``CheckIn``...).

    Returns the event once the hub stored it (its ``seq`` included). Pass
    ``id`` to be able to resend safely after :class:`~heartline.NotDelivered`.
    """
    instead = "async with heartline.connect(url, token) as hl: await hl.send(body)"
    return _run("send_signal", instead, _send, url, token, body, timeout, id)


def need_space(
    url: str,
    token: str,
    minutes: float,
    note: str | None = None,
    *,
    timeout: float = TIMEOUT_S,
    id: str | None = None,
) -> Event:
    """Send "I need space for ``minutes``; I will come back"."""
    body = NeedSpace(duration=round(minutes * 60), note=note)
    return send_signal(url, token, body, timeout=timeout, id=id)


def im_back(
    url: str,
    token: str,
    note: str | None = None,
    *,
    timeout: float = TIMEOUT_S,
    id: str | None = None,
) -> Event:
    return send_signal(url, token, ImBack(note=note), timeout=timeout, id=id)


def check_in(
    url: str,
    token: str,
    note: str | None = None,
    *,
    timeout: float = TIMEOUT_S,
    id: str | None = None,
) -> Event:
    return send_signal(url, token, CheckIn(note=note), timeout=timeout, id=id)


def feeling_disconnected(
    url: str,
    token: str,
    note: str | None = None,
    wish: str | None = None,
    *,
    timeout: float = TIMEOUT_S,
    id: str | None = None,
) -> Event:
    body = FeelingDisconnected(note=note, wish=wish)
    return send_signal(url, token, body, timeout=timeout, id=id)


def ack(
    url: str,
    token: str,
    seq: int,
    reply: str | None = "I hear you",
    *,
    timeout: float = TIMEOUT_S,
    id: str | None = None,
) -> Event:
    """Send "I hear you" for the partner's bid or check-in stored as event ``seq``."""
    return send_signal(url, token, Ack(target=seq, reply=reply), timeout=timeout, id=id)


# Pairing and devices: the calls of heartline.http, each in a loop of its own.


def create_pair(hub: str, *, kind: str = "cli", name: str | None = None) -> Credentials:
    """A new pair with this device as its first member, and an invite code for the partner."""
    return _run_http(http.create_pair, hub, kind=kind, name=name)


def join_pair(hub: str, code: str, *, kind: str = "cli", name: str | None = None) -> Credentials:
    """Join the pair of an invite code (single use) as its second member."""
    return _run_http(http.join_pair, hub, code, kind=kind, name=name)


def new_invite(hub: str, token: str) -> Invite:
    """A fresh invite code, replacing the old one, while the partner has not joined."""
    return _run_http(http.new_invite, hub, token)


def add_device(
    hub: str, token: str, *, kind: str, scope: str = "full", name: str | None = None
) -> tuple[DeviceInfo, str]:
    """Add a device to this member; its info and its token."""
    return _run_http(http.add_device, hub, token, kind=kind, scope=scope, name=name)


def list_devices(hub: str, token: str) -> list[DeviceInfo]:
    """This member's devices; the caller's own has ``current`` set."""
    return _run_http(http.list_devices, hub, token)


def revoke_device(hub: str, token: str, device_id: str) -> None:
    """Revoke one of this member's devices: its token stops working at once."""
    _run_http(http.revoke_device, hub, token, device_id)


def unpair(hub: str, token: str) -> None:
    """Dissolve the pair: the hub erases all of its data and every token stops working."""
    _run_http(http.unpair, hub, token)


# Helpers.


async def _state(url: str, token: str, timeout: float) -> State:
    async with _within(timeout, url), _session(url, token, timeout) as session:
        return session.state


async def _send(url: str, token: str, body: SignalBody, timeout: float, id: str | None) -> Event:
    async with _within(timeout, url), _session(url, token, timeout) as session:
        return await session.send(body, id=id)


def _session(url: str, token: str, timeout: float) -> AbstractAsyncContextManager[Heartline]:
    ws_url = websocket_url(url) if url.startswith(("http://", "https://")) else url
    return connect(ws_url, token, Options(call_timeout=timeout))


@asynccontextmanager
async def _within(timeout: float, url: str) -> AsyncIterator[None]:
    """The whole call within ``timeout``: connecting alone could otherwise take 15 s."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise NotDelivered(f"no answer from the hub at {url} within {timeout} s") from None


def _run_http(call: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    name = call.__name__
    return _run(name, f"heartline.http.{name}", call, *args, **kwargs)


def _run(
    name: str,
    instead: str,
    work: Callable[P, Coroutine[Any, Any, T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``work(*args, **kwargs)`` in an event loop of its own; refused, helpfully, inside one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work(*args, **kwargs))
    raise RuntimeError(
        f"heartline.blocking.{name}() was called from a running asyncio event loop, "
        f"which it would block; in async code use the async API instead: {instead}"
    )
