"""Copies of frozen dataclasses and structs whose fields were checked when they were built.

Every frame and state class checks its fields in ``__post_init__``, so no
invalid value comes from the wire or from a caller. The fold (fold.py)
builds a new member, bid and state for every event, only from fields of
the state and of the event, all checked when those were built: checking
them again was about two thirds of a fold's cost (BENCHMARKS.md, sixth
slice). :func:`evolve` and :func:`assemble` build such objects without
``__init__`` and its checks; nothing else should use them.

The state's parts are msgspec structs (state.py): :func:`evolve` copies
one and sets the changed fields with ``msgspec.structs.force_setattr``
(``msgspec.structs.replace`` runs ``__post_init__``, and with it every
check). :func:`assemble` builds dataclasses only; a new struct is an
:func:`evolve` of a checked one (fold.py keeps a blank bid and ack).
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar, cast

import msgspec

__all__ = ["assemble", "evolve"]

T = TypeVar("T")


def evolve(checked: T, **changes: Any) -> T:
    """``dataclasses.replace(checked, **changes)``, for values already checked."""
    if isinstance(checked, msgspec.Struct):
        return cast(T, _evolved_struct(checked, changes))
    copy = object.__new__(type(checked))
    for name in _names(type(checked)):
        value = changes[name] if name in changes else getattr(checked, name)
        object.__setattr__(copy, name, value)
    return copy


def _evolved_struct(checked: msgspec.Struct, changes: dict[str, Any]) -> msgspec.Struct:
    copy: msgspec.Struct = checked.__copy__()  # type: ignore[attr-defined]  # as copy.copy
    for name, value in changes.items():
        msgspec.structs.force_setattr(copy, name, value)
    return copy


def assemble(cls: type[T], **values: Any) -> T:
    """``cls(**values)``, for values already checked; fields not given take their default.

    ``cls`` is a dataclass (see the module's docstring for structs)."""
    built = object.__new__(cls)
    for name, default in _defaults(cls):
        object.__setattr__(built, name, values.get(name, default))
    return built


_NAMES: dict[type, tuple[str, ...]] = {}
_DEFAULTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(field.name for field in fields(cls))
    return names


def _defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    """Each field's name and default (None for a field without one: the caller gives it)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = tuple(
            (field.name, None if field.default is MISSING else field.default)
            for field in fields(cls)
        )
    return defaults
