"""Packing a pair's state for every append, reusing the bytes of what did not change.

Every append writes the pair's whole state beside its event (append.lua),
so the hub packs a state for every signal: for a pair with ten acknowledged
bids that was about 27 µs of its core, a tenth of a signal's cost
(BENCHMARKS.md, third slice). The fold replaces only the member and the
bids an event is about; every other part of the next state is the very
object the last state held. So the packer keeps, for each pair, the bytes
of the parts of the state it packed last, and a state is its parts' bytes
joined: only the parts the fold replaced are packed again.

The bytes are kept by pair, not in one cache of parts shared by every pair:
a shared cache of 4,096 parts (two generations) was too small for 1,000
pairs of about thirteen parts each signalling in turn, so most parts were
packed again at every append (BENCHMARKS.md, ninth slice).

A pair's kept bytes are found by each part's ``id()``, and the entry holds the
state they were packed from, which holds the parts: no other object can take
their ids while the entry lives. Holding the state rather than a (part, bytes)
pair for each part adds no object to the garbage collector's young generation
for each new part: 1,000 fresh pairs filling their bids left some 13,000 such
tuples for one young pass to walk (BENCHMARKS.md, twelfth slice).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import msgpack

from heartline_protocol import Bid, MemberState, State

__all__ = ["KEPT_PAIRS", "StatePacker"]

KEPT_PAIRS = 10_000
"""Pairs whose parts' bytes are kept, the most recently packed ones: about 2.5 KB a
pair of a dozen parts, so at most about 25 MB whatever the number of pairs."""

_VERSION, _MEMBERS, _BIDS = (msgpack.packb(key) for key in ("version", "members", "bids"))
_STATE_MAP = b"\x83"
"""A fixmap of the three keys, as ``msgpack.packb(state.to_map())`` writes it."""

Part = MemberState | Bid
Packed = dict[int, bytes]
"""Each part's bytes by the part's ``id()``."""
Kept = tuple[State | None, Packed]
"""The state a pair's parts were packed from (it keeps them, and so their ids), and their
bytes."""

_NONE_KEPT: Kept = (None, {})


class StatePacker:
    """``msgpack.packb(state.to_map())``, byte for byte, at the cost of the changed parts."""

    def __init__(self, pairs: int = KEPT_PAIRS) -> None:
        self._pairs = pairs
        self._by_pair: OrderedDict[str, Kept] = OrderedDict()
        self._headers = msgpack.Packer()

    def pack(self, pair_id: str, state: State) -> bytes:
        source, last = self._by_pair.pop(pair_id, _NONE_KEPT)
        kept: Packed = {}
        members = _packed(state.members, last, kept)
        bids = _packed(state.bids, last, kept)
        del source  # held until here: its parts' ids are the keys of ``last``
        self._keep(pair_id, (state, kept))
        headers = self._headers
        return b"".join(
            (
                _STATE_MAP,
                _VERSION,
                headers.pack(state.version),
                _MEMBERS,
                headers.pack_array_header(len(members)),
                *members,
                _BIDS,
                headers.pack_array_header(len(bids)),
                *bids,
            )
        )

    @property
    def kept_pairs(self) -> int:
        """How many pairs' parts are kept now."""
        return len(self._by_pair)

    def _keep(self, pair_id: str, kept: Kept) -> None:
        self._by_pair[pair_id] = kept
        if len(self._by_pair) > self._pairs:
            self._by_pair.popitem(last=False)


def _packed(parts: Iterable[Part], last: Packed, kept: Packed) -> list[bytes]:
    """Each part's bytes, from ``last`` where the part is the same object; all put in ``kept``.

    An id found in ``last`` is the very part: the caller holds the state ``last`` was
    packed from, so its parts live on and no new part can have one of their ids.
    """
    packed = []
    for part in parts:
        key = id(part)
        data = last.get(key)
        if data is None:
            data = msgpack.packb(part.to_map(), use_bin_type=True)
        kept[key] = data
        packed.append(data)
    return packed
