"""Field checks shared by every frame (SPEC.md 3, "Value types").

Each check takes the raw value (anything a peer could have sent), the wire
name of the field for the error message, and its limits; it returns the value
narrowed to its type or raises :class:`ProtocolError`. Frames call these from
``__post_init__``, so a frame that exists is a valid frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ErrorCode, ProtocolError

__all__ = [
    "MAX_ID_CHARS",
    "MAX_INT",
    "MAX_NOTE_CHARS",
    "check_bool",
    "check_id",
    "check_int",
    "check_text",
    "check_token",
    "optional",
]

MAX_INT = 2**53 - 1
"""The largest integer on the wire: every value stays exact in JavaScript."""

MAX_NOTE_CHARS = 280
"""Notes and reply phrases, in Unicode code points."""

MAX_ID_CHARS = 64
"""Client message ids and hub-assigned ids (pair, member, device, event, epoch)."""

T = TypeVar("T")

_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
"""Lone surrogates cannot be encoded as UTF-8; decoded text never has them."""
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, f"{field}: {message}", field=field)


def _type_name(value: object) -> str:
    return "nil" if value is None else type(value).__name__


def check_int(value: Any, field: str, *, lo: int = 0, hi: int = MAX_INT) -> int:
    """An integer in ``lo..hi``; booleans and floats are not integers here."""
    if type(value) is not int:
        raise _invalid(field, f"must be an integer, not {_type_name(value)}")
    if not lo <= value <= hi:
        raise _invalid(field, f"must be between {lo} and {hi}, got {value}")
    return value


def check_bool(value: Any, field: str) -> bool:
    if type(value) is not bool:
        raise _invalid(field, f"must be a boolean, not {_type_name(value)}")
    return value


def check_text(value: Any, field: str, *, max_chars: int = MAX_NOTE_CHARS) -> str:
    """Free text (a note, a reply, a message); too long is ``too_large``."""
    if not isinstance(value, str):
        raise _invalid(field, f"must be a string, not {_type_name(value)}")
    if _SURROGATE.search(value):
        raise _invalid(field, "must be valid Unicode text (no lone surrogates)")
    if len(value) > max_chars:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{field}: at most {max_chars} characters, got {len(value)}",
            field=field,
        )
    return value


def check_id(value: Any, field: str, *, max_chars: int = MAX_ID_CHARS) -> str:
    """An opaque id or secret: printable ASCII without spaces, 1 to ``max_chars`` long."""
    if not isinstance(value, str):
        raise _invalid(field, f"must be a string, not {_type_name(value)}")
    if not (0 < len(value) <= max_chars and _PRINTABLE.fullmatch(value)):
        raise _invalid(field, f"must be 1 to {max_chars} printable ASCII characters without spaces")
    return value


def check_token(value: Any, field: str) -> str:
    """A lowercase name such as a wish: ``[a-z][a-z0-9_]{0,31}``."""
    if not isinstance(value, str):
        raise _invalid(field, f"must be a string, not {_type_name(value)}")
    if not _TOKEN.fullmatch(value):
        raise _invalid(field, "must match [a-z][a-z0-9_]{0,31}")
    return value


def optional(check: Callable[..., T], value: Any, field: str, **limits: Any) -> T | None:
    """Apply ``check`` unless the field is absent (``None`` stands for absent)."""
    return None if value is None else check(value, field, **limits)
