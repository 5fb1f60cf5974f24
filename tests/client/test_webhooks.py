"""A receiver checks a delivery's signature and age (heartline.webhooks)."""

from __future__ import annotations

import pytest

from heartline.webhooks import WebhookRejected, verify
from heartline_hub.webhooks import sign

SECRET = "whsec_test"
BODY = b'{"webhook": "wh_1", "pair": "p_1", "event": {"seq": 3}}'
NOW = 1_800_000_000


def rejected(signature: str | None, body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(WebhookRejected) as raised:
        verify(SECRET, signature, body, now=now)
    return raised.value.reason


def test_a_delivery_signed_by_the_hub_passes() -> None:
    verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 10)


def test_a_changed_body_or_another_secret_is_a_bad_signature() -> None:
    assert rejected(sign(SECRET, NOW, BODY), body=BODY + b" ") == "bad_signature"
    assert rejected(sign("whsec_other", NOW, BODY)) == "bad_signature"


def test_a_replayed_delivery_is_stale() -> None:
    assert rejected(sign(SECRET, NOW - 301, BODY)) == "stale"
    assert rejected(sign(SECRET, NOW + 301, BODY)) == "stale"


def test_a_missing_or_malformed_signature_says_so() -> None:
    assert rejected(None) == "missing_signature"
    assert rejected("v1=abc") == "malformed_signature"
    assert rejected(f"t={NOW}") == "malformed_signature"
