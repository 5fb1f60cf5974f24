"""Packing a pair's state for every append, reusing the bytes of what did not change.

Every append writes the pair's whole state beside its event (append.lua),
so the hub packs a state for every signal: for a pair with ten acknowledged
bids that was about 27 µs of its core, a tenth of a signal's cost
(BENCHMARKS.md, third slice). The fold replaces only the member and the
bid an event is about; every other part of the next state is the very
object the last state held. So each part is packed once, its bytes kept
while the part is in use, and a state is its parts' bytes joined: about 3
µs when nothing but the version changed.
"""

from __future__ import annotations

import msgpack

from heartline_protocol import Bid, MemberState, State

__all__ = ["MAX_PARTS", "StatePacker"]

MAX_PARTS = 32_768
"""Parts whose bytes are kept; past this the cache starts afresh (the working set refills it)."""

_VERSION, _MEMBERS, _BIDS = (msgpack.packb(key) for key in ("version", "members", "bids"))
_STATE_MAP = b"\x83"
"""A fixmap of the three keys, as ``msgpack.packb(state.to_map())`` writes it."""


class StatePacker:
    """``msgpack.packb(state.to_map())``, byte for byte, at the cost of the changed parts."""

    def __init__(self, max_parts: int = MAX_PARTS) -> None:
        self._max_parts = max_parts
        self._parts: dict[int, tuple[MemberState | Bid, bytes]] = {}
        """By the part's ``id()``; the entry holds the part, so the id cannot be reused
        by another object while the entry lives."""
        self._headers = msgpack.Packer()

    def pack(self, state: State) -> bytes:
        return b"".join(
            (
                _STATE_MAP,
                _VERSION,
                self._headers.pack(state.version),
                _MEMBERS,
                self._headers.pack_array_header(len(state.members)),
                *map(self._part, state.members),
                _BIDS,
                self._headers.pack_array_header(len(state.bids)),
                *map(self._part, state.bids),
            )
        )

    def _part(self, part: MemberState | Bid) -> bytes:
        kept = self._parts.get(id(part))
        if kept is not None and kept[0] is part:
            return kept[1]
        if len(self._parts) >= self._max_parts:
            self._parts.clear()
        packed: bytes = msgpack.packb(part.to_map(), use_bin_type=True)
        self._parts[id(part)] = (part, packed)
        return packed
