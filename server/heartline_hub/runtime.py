"""The process the hub runs in: its event loop and its garbage collector.

uvloop (libuv) runs the same asyncio code with a cheaper selector, transport
and timer machinery than the standard library's loop; the hub spends most of
its time there, so it is the default (``--event-loop asyncio`` for the
standard one, say to rule the loop out while debugging).
"""

from __future__ import annotations

import asyncio

__all__ = ["new_event_loop"]


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of ``kind`` (``uvloop`` or ``asyncio``)."""
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 - optional at import time: not on every platform

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
