"""The limits a hub enforces, announced in ``welcome`` (SPEC.md 4.2).

The defaults are the values of a hub with no configuration; a hub may be
configured otherwise and says so in ``welcome.limits``. The codec validates
client frames against a :class:`Limits` instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ErrorCode, ProtocolError
from .fields import check_int
from .wire import WireMap

__all__ = ["DEFAULT_LIMITS", "MAX_FRAME_BYTES", "Limits"]

MAX_FRAME_BYTES = 8192
"""Default largest message a client may send, in bytes."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = MAX_FRAME_BYTES
    min_space_seconds: int = 60
    max_space_seconds: int = 86_400
    space_ending_seconds: int = 300
    signal_rate: int = 5
    """Signals per second a device may send, sustained."""
    signal_burst: int = 20
    """Signals a device may send at once before ``rate_limited``."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            check_int(getattr(self, name), name, lo=1)
        if self.min_space_seconds > self.max_space_seconds:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                "min_space_seconds: must not exceed max_space_seconds",
                field="min_space_seconds",
            )

    def to_map(self) -> WireMap:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_map(cls, m: WireMap) -> Limits:
        """Known limits from a map; limits a newer hub adds are ignored."""
        known = {name: m[name] for name in cls.__slots__ if m.get(name) is not None}
        return cls(**known)


DEFAULT_LIMITS = Limits()
