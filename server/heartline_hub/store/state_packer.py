"""Packing a pair's state for every append, reusing the bytes of what did not change.

Every append writes the pair's whole state beside its event (append.lua),
so the hub packs a state for every signal: for a pair with ten acknowledged
bids that was about 27 µs of its core, a tenth of a signal's cost
(BENCHMARKS.md, third slice). The fold replaces only the member and the
bid an event is about; every other part of the next state is the very
object the last state held. So each part is packed once, its bytes kept
while the part is in use (two generations, below), and a state is its
parts' bytes joined: about 3 µs when nothing but the version changed.
"""

from __future__ import annotations

import msgpack

from heartline_protocol import Bid, MemberState, State

__all__ = ["GENERATION", "StatePacker"]
GENERATION = 4_096
"""Parts whose bytes a generation keeps. Two generations are kept: the parts packed or
used since the last turnover, and those of the one before; a part unused for two
turnovers is dropped (and with it the reference that kept it alive). So the packer
holds at most twice this many parts, about 3.5 MB, whatever the number of pairs."""

_VERSION, _MEMBERS, _BIDS = (msgpack.packb(key) for key in ("version", "members", "bids"))
_STATE_MAP = b"\x83"
"""A fixmap of the three keys, as ``msgpack.packb(state.to_map())`` writes it."""

Kept = tuple[MemberState | Bid, bytes]


class StatePacker:
    """``msgpack.packb(state.to_map())``, byte for byte, at the cost of the changed parts."""

    def __init__(self, generation: int = GENERATION) -> None:
        self._generation = generation
        self._young: dict[int, Kept] = {}
        """By the part's ``id()``; the entry holds the part, so the id cannot be reused
        by another object while the entry lives."""
        self._old: dict[int, Kept] = {}
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

    @property
    def kept(self) -> int:
        """How many parts' bytes are kept now."""
        return len(self._young) + len(self._old)

    def _part(self, part: MemberState | Bid) -> bytes:
        key = id(part)
        kept = self._young.get(key)
        if kept is not None and kept[0] is part:
            return kept[1]
        kept = self._old.get(key)
        if kept is None or kept[0] is not part:
            kept = (part, msgpack.packb(part.to_map(), use_bin_type=True))
        self._keep(key, kept)
        return kept[1]

    def _keep(self, key: int, kept: Kept) -> None:
        self._young[key] = kept
        if len(self._young) >= self._generation:
            self._old, self._young = self._young, {}
