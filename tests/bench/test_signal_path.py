"""The signal-path benchmark sends run.py's workload: who signals, and what."""

from __future__ import annotations

from bench.loadgen.signal_path import Workload
from heartline_hub.store import Scope, TokenRecord
from heartline_protocol import Ack, CheckIn, FeelingDisconnected, ImBack, NeedSpace


def devices() -> list[TokenRecord]:
    firsts = [TokenRecord(f"p{n}", f"a{n}", f"da{n}", Scope.FULL) for n in range(2)]
    seconds = [TokenRecord(f"p{n}", f"b{n}", f"db{n}", Scope.FULL) for n in range(2)]
    return firsts + seconds


def test_every_first_member_signals_then_every_second_member() -> None:
    workload = Workload(devices())
    senders = [workload.signal(k)[0].member for k in range(4)]
    assert senders == ["a0", "a1", "b0", "b1"]


def test_each_device_cycles_the_kinds_and_acks_its_partners_last_bid() -> None:
    workload = Workload(devices())
    bodies = []
    for k in range(20):
        device, signal = workload.signal(k)
        bodies.append(signal.body)
        if isinstance(signal.body, FeelingDisconnected | CheckIn):
            workload.stored(device, signal.body, seq=100 + k)
    assert [type(body) for body in bodies[:16:4]] == [NeedSpace, ImBack, FeelingDisconnected, Ack]
    assert isinstance(bodies[12], Ack)
    assert bodies[12].target == 110, "a0 acks b0's feeling_disconnected (signal 10)"
    assert isinstance(bodies[14], Ack)
    assert bodies[14].target == 108, "b0 acks a0's feeling_disconnected (signal 8)"
    assert isinstance(bodies[13], Ack)
    assert bodies[13].target == 111
    assert all(isinstance(body, NeedSpace) for body in bodies[16:20]), "the cycle starts again"
