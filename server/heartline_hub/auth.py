"""Tokens, invite codes and ids: random, and stored only as hashes.

A device token carries 192 bits from :mod:`secrets`; the store keeps its
SHA-256 only, so a leaked database yields no usable token. A slow hash would
add nothing for values this random. Tokens travel in the ``hello`` frame or
an ``Authorization: Bearer`` header, never in a URL.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from .store import Store, TokenRecord

__all__ = [
    "authenticate",
    "bearer_token",
    "hash_secret",
    "new_id",
    "new_invite_code",
    "new_token",
    "normalize_invite_code",
]

TOKEN_PREFIX = "hlt_"
_INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
"""Crockford-style: no I, L, O or U, so a code read aloud is not misheard."""
INVITE_LENGTH = 10


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(9)}"


def new_invite_code() -> str:
    """Ten characters (50 bits), shown as ``ABCDE-FGHJK``; single use and short-lived."""
    raw = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_invite_code(code: str) -> str:
    """What a person typed, as it was issued: case and dashes do not matter."""
    return code.replace("-", "").replace(" ", "").upper()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(store: Store, token: str | None) -> TokenRecord | None:
    """Who the token speaks for, or None for a missing, unknown or revoked token."""
    if not token or len(token) > 256:
        return None
    return await store.token(hash_secret(token))
