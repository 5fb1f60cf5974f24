"""Error codes and WebSocket close codes shared by the hub and every client.

SPEC.md section 8 ("Errors") is the normative table; this module is its
executable form. Error codes travel in ``error`` frames and never change
meaning once published. Close codes come in two ranges (SPEC.md 8.3):
4000-4499 are temporary (reconnect with backoff and resume) and 4500-4999
are terminal (do not reconnect until the user acts).
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "ErrorCode", "ProtocolError"]


class ErrorCode(enum.StrEnum):
    """Stable error codes of ``error`` frames (SPEC.md 8.1)."""

    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_KIND = "unknown_kind"
    INVALID_FIELD = "invalid_field"
    TOO_LARGE = "too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if sent again later, unchanged."""
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})


class CloseCode(enum.IntEnum):
    """WebSocket close codes the hub uses (SPEC.md 8.3)."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    GOING_AWAY = 4000
    HEARTBEAT_TIMEOUT = 4001
    SLOW_CONSUMER = 4002
    HANDSHAKE_TIMEOUT = 4003
    UNAVAILABLE = 4004
    POLICY_VIOLATION = 4005
    UNAUTHORIZED = 4500
    UNPAIRED = 4501
    UNSUPPORTED_PROTOCOL = 4502
    BAD_HANDSHAKE = 4503

    @property
    def reconnect(self) -> bool:
        """True when a client should reconnect (with backoff) and resume.

        Terminal codes (4500-4999) mean that reconnecting with the same
        credentials or the same client code cannot succeed.
        """
        return not 4500 <= self.value <= 4999


class ProtocolError(ValueError):
    """A frame or a value violates protocol v1.

    Raised by the codec for anything a peer sent that is not a valid frame,
    and by frame constructors for values the protocol does not allow. It is
    the only exception the codec raises for bad input.

    ``field`` names the offending field (dotted for nested fields, such as
    ``resume.seq``) when one is to blame. ``id`` is the client message id of
    the offending frame when it could be read, so that the hub's ``error``
    frame can name the request it answers. ``retry_after_ms`` says when to try
    again, for the retryable codes.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        id: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.id = id
        self.retry_after_ms = retry_after_ms

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, field={self.field!r})"
