"""Small helpers for turning frames into wire maps and back (SPEC.md 3).

A wire map is the decoded msgpack map of a frame: string keys, and values
that are strings, integers, booleans, nil, arrays or maps. Absent optional
fields are left out of maps we write; ``nil`` is read as absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .errors import ErrorCode, ProtocolError

__all__ = [
    "WireMap",
    "compact",
    "get",
    "map_field",
    "nested",
    "parse_map",
    "parse_optional_map",
    "sequence_field",
]

WireMap = dict[str, Any]
T = TypeVar("T")


def get(m: WireMap, name: str, default: Any) -> Any:
    """The field's value, or ``default`` when it is absent or nil (SPEC.md 3.2)."""
    value = m.get(name)
    return default if value is None else value


def compact(**fields: Any) -> WireMap:
    """The fields in the order given, without the absent (None) ones.

    The keyword arguments are a fresh dict of the call's own; removing the
    absent ones from it is cheaper than building another (this runs for
    every map of every frame and state the hub packs).
    """
    if None in fields.values():
        for name in [name for name, value in fields.items() if value is None]:
            del fields[name]
    return fields


def map_field(value: Any, field: str) -> WireMap:
    if type(value) is not dict:
        kind = "nil" if value is None else type(value).__name__
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, f"{field}: must be a map, not {kind}", field=field
        )
    return value


def sequence_field(value: Any, field: str) -> list[Any]:
    if type(value) is not list:
        kind = "nil" if value is None else type(value).__name__
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, f"{field}: must be an array, not {kind}", field=field
        )
    return value


@contextmanager
def nested(prefix: str) -> Iterator[None]:
    """Report errors inside a nested map under its path, e.g. ``resume.seq``."""
    try:
        yield
    except ProtocolError as error:
        inner = error.field or ""
        field = f"{prefix}.{inner}" if inner else prefix
        message = error.message.removeprefix(f"{inner}: ") if inner else error.message
        raise ProtocolError(error.code, f"{field}: {message}", field=field) from None


def parse_map(value: Any, field: str, parse: Callable[[WireMap], T]) -> T:
    """Parse a nested map, reporting its own errors under ``field`` (``state.version``)."""
    checked = map_field(value, field)
    with nested(field):
        return parse(checked)


def parse_optional_map(value: Any, field: str, parse: Callable[[WireMap], T]) -> T | None:
    return None if value is None else parse_map(value, field, parse)
