"""Checking a webhook delivery from a Heartline hub, for the receiver of a push relay.

A hub signs each delivery with the webhook's secret::

    Heartline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

:func:`verify` recomputes the signature over the raw body (before any JSON
parsing), compares it in constant time, and refuses a timestamp more than
``tolerance_s`` from the receiver's clock, so a recorded delivery cannot be
replayed later. A delivery may still arrive twice within that window (a hub
that died after sending it): drop a repeat by its ``Heartline-Event-Id``.
Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["DEFAULT_TOLERANCE_S", "WebhookRejected", "verify"]

DEFAULT_TOLERANCE_S = 300.0


class WebhookRejected(Exception):
    """A delivery that did not come from the hub, or too late; ``reason`` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """``missing_signature``, ``malformed_signature``, ``stale`` or ``bad_signature``."""


def verify(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Return if ``body`` came signed with ``secret`` within ``tolerance_s``; raise otherwise."""
    if not signature:
        raise WebhookRejected("missing_signature", "no Heartline-Signature header")
    fields = dict(part.partition("=")[::2] for part in signature.split(","))
    timestamp, digest = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or not digest:
        raise WebhookRejected("malformed_signature", "Heartline-Signature: t=<seconds>,v1=<hex>")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance_s:
        raise WebhookRejected("stale", f"signed {age:.0f} s ago, more than {tolerance_s:g} s")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), digest):
        raise WebhookRejected("bad_signature", "the signature does not match the body")
