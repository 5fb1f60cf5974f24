"""What a call can fail with: the hub's error codes as exceptions, and connection trouble."""

from __future__ import annotations

from heartline_protocol import CloseCode, Error, ErrorCode

__all__ = [
    "HeartlineError",
    "HubError",
    "NotDelivered",
    "OutboxFull",
    "SessionEnded",
]


class HeartlineError(Exception):
    """Base of every error this library raises."""


class HubError(HeartlineError):
    """The hub refused a request: ``code`` is the protocol's error code (SPEC.md 8.1)."""

    def __init__(self, code: str, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms

    @property
    def error_code(self) -> ErrorCode | None:
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None

    @classmethod
    def from_frame(cls, frame: Error) -> HubError:
        return cls(frame.code, frame.message, frame.retry_after_ms)


class NotDelivered(HeartlineError):
    """A call could not be delivered to the hub and answered before its timeout.

    The hub may or may not have stored it; a later call with the same client
    message id is answered with the original result and never stored twice.
    """


class OutboxFull(HeartlineError):
    """Too many calls are waiting for a connection; slow down."""


class SessionEnded(HeartlineError):
    """The hub ended the session for good (a terminal close code: revoked, unpaired...)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"session ended ({code}): {reason}")
        self.code = code
        self.reason = reason

    @property
    def close_code(self) -> CloseCode | None:
        try:
            return None if self.code is None else CloseCode(self.code)
        except ValueError:
            return None
