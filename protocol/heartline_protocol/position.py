"""Positions in a pair's event log and whether a client can resume (SPEC.md 7).

A position is a sequence number within an epoch. The hub picks a new epoch
whenever a pair's log starts over without its history (for example after its
Redis data was lost), so equal sequence numbers from different epochs never
name the same event.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import check_id, check_int
from .wire import WireMap

__all__ = ["Position", "can_resume"]


@dataclass(frozen=True, slots=True)
class Position:
    """The last event a client has (``seq`` 0: none yet) in log ``epoch``."""

    seq: int
    epoch: str

    def __post_init__(self) -> None:
        check_int(self.seq, "seq")
        check_id(self.epoch, "epoch")

    def to_map(self) -> WireMap:
        return {"seq": self.seq, "epoch": self.epoch}

    @classmethod
    def from_map(cls, m: WireMap) -> Position:
        return cls(seq=m.get("seq"), epoch=m.get("epoch"))  # type: ignore[arg-type]


def can_resume(client: Position, *, log: Position, first_seq: int) -> bool:
    """Whether every event after ``client`` up to ``log`` is still retained.

    ``log`` is the log's current position (its last sequence number) and
    ``first_seq`` the oldest sequence number still retained (``log.seq + 1``
    when the log is empty). A client ahead of the log has seen events the log
    no longer has (its history was lost), so it cannot resume either.
    """
    if client.epoch != log.epoch:
        return False
    return first_seq - 1 <= client.seq <= log.seq
