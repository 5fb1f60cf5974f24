"""Codec benchmark: how fast heartline_protocol encodes and decodes each frame type.

Run it with ``make bench`` (or ``.venv/bin/python bench/codec.py``); add
``--json`` for one JSON object instead of the table.

What is measured, for each sample frame below (every frame type of protocol
v1; every signal kind; the common event kinds; a welcome and a snapshot with
a realistic small state of two members and two bids):

* encode: ``encode(frame)``, from a frame object to the bytes of one
  WebSocket message (``to_map`` and ``msgpack.packb``);
* decode: ``decode_from_client(data)`` for frames a client sends and
  ``decode_from_hub(data)`` for frames a hub sends: unpacking, the duplicate
  key, depth and size checks, and building the validated frame objects.

Each figure is the best of 3 runs of one timed loop (``time.perf_counter_ns``)
that calls the function over and over with the same argument. The iteration
count is calibrated first so that one run takes about 0.2 s (``--seconds``);
the 3 runs of a figure are in 3 separate passes over all frames, so that a
burst of load from another process spoils at most one of them. The garbage
collector is off during a run, as with :mod:`timeit`, and the loop overhead
(about 25 ns per call) is included. "us" is microseconds per frame;
"frames/s" is its inverse, for one CPU core. The whole run takes about 30 s.

The sample frames are shaped like real traffic: ids are UUIDs or prefixed
ULIDs, notes about 20 bytes, times are server times in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from heartline_protocol import (
    DEFAULT_LIMITS,
    Ack,
    Bid,
    BidAck,
    CheckIn,
    Delivered,
    Error,
    ErrorCode,
    Event,
    FeelingDisconnected,
    Frame,
    Goaway,
    Hello,
    ImBack,
    MemberState,
    MemberStatus,
    NeedSpace,
    Ping,
    Pong,
    Position,
    Presence,
    Received,
    Result,
    Signal,
    Snapshot,
    SpaceEnding,
    State,
    Sync,
    Welcome,
    Wish,
    decode_from_client,
    decode_from_hub,
    encode,
)

Sender = Literal["client", "hub"]

REPEATS = 3
CALIBRATION_NS = 10_000_000
"""Calibration doubles the iteration count until one loop takes this long."""

# --- Sample frames: one evening of a couple, as on the wire -------------------

NOW = 1_795_631_400_000  # 2026-11-25 18:30 UTC, in ms
EPOCH = "ep_01JDQ4Y7K3V9R2M6T8X0B5N1WZ"
PAIR = "pr_01JDQ2F8S6A4C1E3G5J7L9N0PQ"
ALEX = "mb_01JDQ2G1H3K5M7P9R2T4V6X8YZ"
SAM = "mb_01JDQ2G9B8D6F4H2K0M8P6R4TV"
ALEX_PHONE = "dv_01JDQ2H5W3Y1A9C7E5G3J1L9NQ"
SAM_PHONE = "dv_01JDQ2J7X5Z3B1D9F7H5K3M1PR"
TOKEN = "hl_dv_Vh3Jq9Xr2LmT8bWc5NfK0sYe7GpD4aZu1oRiHx6Ek"


def _space(seq: int, *, at: int) -> Event:
    body = NeedSpace(duration=3600, note="long day, need quiet", until=at + 3_600_000)
    return Event(seq=seq, id=f"ev_{seq:026d}", at=at, member=ALEX, device=ALEX_PHONE, body=body)


STATE = State(
    version=1846,
    members=(
        MemberState(
            id=ALEX,
            status=MemberStatus.SPACE,
            since=NOW - 600_000,
            until=NOW + 3_000_000,
            note="long day, need quiet",
            space_seq=1840,
            online=True,
            last_seen=NOW,
            received=1846,
        ),
        MemberState(
            id=SAM,
            status=MemberStatus.AVAILABLE,
            since=NOW - 7_200_000,
            online=False,
            last_seen=NOW - 60_000,
            received=1845,
        ),
    ),
    bids=(
        Bid(
            seq=1838,
            kind="check_in",
            member=SAM,
            at=NOW - 5_400_000,
            note="how's the day going?",
            ack=BidAck(seq=1839, member=ALEX, at=NOW - 5_100_000, reply="busy, talk later"),
        ),
        Bid(
            seq=1845,
            kind="feeling_disconnected",
            member=SAM,
            at=NOW - 120_000,
            note="miss you today, a lot",
            wish=Wish.QUALITY_TIME,
        ),
    ),
)

CLIENT_SAMPLES: dict[str, Frame] = {
    "hello": Hello(
        token=TOKEN, resume=Position(seq=1846, epoch=EPOCH), agent="Heartline-iOS/1.4.2 (iOS 18.1)"
    ),
    "signal need_space": Signal(
        id="4fcaa94f-7771-498e-8822-0b48c9969dca",
        body=NeedSpace(duration=3600, note="long day, need quiet"),
    ),
    "signal im_back": Signal(
        id="9d85791d-d547-4434-bbc4-eb8abfd9806f", body=ImBack(note="back, thanks for that")
    ),
    "signal feeling_disconnected": Signal(
        id="e9c1989f-5947-433e-812e-a5f354f0840a",
        body=FeelingDisconnected(note="miss you today, a lot", wish=Wish.QUALITY_TIME),
    ),
    "signal check_in": Signal(
        id="2b7d0e55-31c4-4a8e-9f1a-6c2d8e4b7a90", body=CheckIn(note="how's the day going?")
    ),
    "signal ack": Signal(
        id="7a1e3c9d-5b2f-4e6a-8c0d-9f1b3e5a7c2d", body=Ack(target=1845, reply="here, walk later?")
    ),
    "received": Received(seq=1846),
    "sync": Sync(id="c3f8a2d1-6e4b-4f7a-9d0c-2b5e8a1f4c7d", after=1800, limit=100),
    "ping": Ping(t=NOW),
    "pong": Pong(t=NOW),
}
"""Frames a client sends, decoded with ``decode_from_client``."""

HUB_SAMPLES: dict[str, Frame] = {
    "welcome": Welcome(
        pair=PAIR,
        member=ALEX,
        partner=SAM,
        device=ALEX_PHONE,
        epoch=EPOCH,
        server_time=NOW,
        heartbeat_ms=25_000,
        resumed=True,
        limits=DEFAULT_LIMITS,
        state=STATE,
    ),
    "result (signal)": Result(
        id="4fcaa94f-7771-498e-8822-0b48c9969dca", event=_space(1847, at=NOW)
    ),
    "result (sync)": Result(id="c3f8a2d1-6e4b-4f7a-9d0c-2b5e8a1f4c7d", last=1846, more=False),
    "event need_space": _space(1847, at=NOW),
    "event ack": Event(
        seq=1848,
        id=f"ev_{1848:026d}",
        at=NOW + 30_000,
        member=SAM,
        device=SAM_PHONE,
        body=Ack(target=1847, reply="take your time ❤"),
    ),
    "event delivered": Event(
        seq=1849,
        id=f"ev_{1849:026d}",
        at=NOW + 31_000,
        member=SAM,
        device=SAM_PHONE,
        body=Delivered(through=1848),
    ),
    "event presence": Event(
        seq=1850,
        id=f"ev_{1850:026d}",
        at=NOW + 32_000,
        member=SAM,
        device=SAM_PHONE,
        body=Presence(online=False),
    ),
    "event space_ending": Event(
        seq=1851,
        id=f"ev_{1851:026d}",
        at=NOW + 3_300_000,
        member=ALEX,
        body=SpaceEnding(target=1847, until=NOW + 3_600_000),
    ),
    "snapshot": Snapshot(epoch=EPOCH, state=STATE, reason="history_lost"),
    "error": Error(
        code=ErrorCode.RATE_LIMITED,
        message="too many signals: at most 20 at once, then 5 per second",
        id="5e9b1d3f-7a2c-4e8b-a6d0-1c3f5b7d9e2a",
        retry_after_ms=1200,
    ),
    "goaway": Goaway(reason="draining", reconnect_in_ms=2000),
    "pong": Pong(t=NOW, now=NOW + 4),
}
"""Frames a hub sends, decoded with ``decode_from_hub``."""

DECODERS: dict[Sender, Callable[[bytes], Frame]] = {
    "client": decode_from_client,
    "hub": decode_from_hub,
}


# --- Timing ----------------------------------------------------------------------


def run_ns(function: Callable[[Any], object], argument: object, iterations: int) -> int:
    """Nanoseconds that ``iterations`` calls of ``function(argument)`` take, GC off."""
    loop = itertools.repeat(None, iterations)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in loop:
            function(argument)
        return time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(function: Callable[[Any], object], argument: object, seconds: float) -> int:
    """The iteration count for which one run takes about ``seconds``."""
    iterations = 1
    while (elapsed := run_ns(function, argument, iterations)) < CALIBRATION_NS:
        iterations *= 2
    return max(1, round(iterations * seconds * 1e9 / elapsed))


@dataclass(frozen=True, slots=True)
class Rate:
    """The best of ``REPEATS`` runs of ``iterations`` calls."""

    iterations: int
    best_ns: int

    @property
    def us_per_frame(self) -> float:
        return self.best_ns / self.iterations / 1000

    @property
    def frames_per_second(self) -> float:
        return self.iterations * 1e9 / self.best_ns


@dataclass(frozen=True, slots=True)
class Row:
    frame: str
    sender: Sender
    size: int
    encode: Rate
    decode: Rate

    def to_json(self) -> dict[str, object]:
        return {
            "frame": self.frame,
            "sender": self.sender,
            "bytes": self.size,
            "encode_us": round(self.encode.us_per_frame, 3),
            "encode_frames_per_s": round(self.encode.frames_per_second),
            "encode_iterations": self.encode.iterations,
            "decode_us": round(self.decode.us_per_frame, 3),
            "decode_frames_per_s": round(self.decode.frames_per_second),
            "decode_iterations": self.decode.iterations,
        }


@dataclass(frozen=True, slots=True)
class Case:
    """One sample frame and the two timed loops over it, calibrated."""

    name: str
    sender: Sender
    data: bytes
    encode: tuple[Callable[[Any], object], object, int]
    decode: tuple[Callable[[Any], object], object, int]

    @classmethod
    def prepare(cls, name: str, sender: Sender, frame: Frame, seconds: float) -> Case:
        decode = DECODERS[sender]
        data = encode(frame)
        if decode(data) != frame:  # a sample that does not round-trip measures nothing useful
            raise SystemExit(f"sample {name!r} does not round-trip")
        return cls(
            name=name,
            sender=sender,
            data=data,
            encode=(encode, frame, calibrate(encode, frame, seconds)),
            decode=(decode, data, calibrate(decode, data, seconds)),
        )


def run_cases(cases: Sequence[Case], on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Time every case ``REPEATS`` times, one pass over all cases per repeat.

    Interleaving the repeats, rather than timing one case 3 times in a row,
    keeps a burst of load from another process from spoiling all 3 runs of
    the same case. Rows are complete, and passed to ``on_row``, in the last pass.
    """
    best: dict[tuple[int, str], int] = {}
    rows = []
    for repeat in range(REPEATS):
        for index, case in enumerate(cases):
            for op, (function, argument, iterations) in (
                ("encode", case.encode),
                ("decode", case.decode),
            ):
                elapsed = run_ns(function, argument, iterations)
                best[index, op] = min(best.get((index, op), elapsed), elapsed)
            if repeat == REPEATS - 1:
                row = Row(
                    frame=case.name,
                    sender=case.sender,
                    size=len(case.data),
                    encode=Rate(case.encode[2], best[index, "encode"]),
                    decode=Rate(case.decode[2], best[index, "decode"]),
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def samples() -> list[tuple[str, Sender, Frame]]:
    client: list[tuple[str, Sender, Frame]] = [
        (name, "client", frame) for name, frame in CLIENT_SAMPLES.items()
    ]
    hub: list[tuple[str, Sender, Frame]] = [
        (name, "hub", frame) for name, frame in HUB_SAMPLES.items()
    ]
    return client + hub


# --- Output ------------------------------------------------------------------------


def environment() -> dict[str, object]:
    compiled = msgpack.Packer.__module__ != "msgpack.fallback"
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "msgpack": importlib.metadata.version("msgpack"),
        "msgpack_c_extension": compiled,
        "heartline_protocol": importlib.metadata.version("heartline-protocol"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


COLUMNS = ("frame", "from", "bytes", "encode us", "encode frames/s", "decode us", "decode frames/s")


def table_line(cells: Sequence[str], frame_width: int) -> str:
    frame, sender, *figures = cells
    widths = [len(column) for column in COLUMNS[2:]]
    right = "  ".join(cell.rjust(width) for cell, width in zip(figures, widths, strict=True))
    return f"{frame.ljust(frame_width)}  {sender.ljust(6)}  {right}"


def table_row(row: Row, frame_width: int) -> str:
    return table_line(
        [
            row.frame,
            row.sender,
            str(row.size),
            f"{row.encode.us_per_frame:.2f}",
            f"{row.encode.frames_per_second:,.0f}",
            f"{row.decode.us_per_frame:.2f}",
            f"{row.decode.frames_per_second:,.0f}",
        ],
        frame_width,
    )


def print_header(env: dict[str, object], seconds: float, frame_width: int) -> None:
    extension = "C extension" if env["msgpack_c_extension"] else "pure Python fallback"
    print(f"Python {env['python']} ({env['python_implementation']}), {env['platform']}")
    print(f"msgpack {env['msgpack']} ({extension}), heartline-protocol {env['heartline_protocol']}")
    print(f"{env['cpus']} CPUs; best of {REPEATS} runs of ~{seconds} s per figure; us = µs/frame")
    print()
    header = table_line(COLUMNS, frame_width)
    print(header)
    print("-" * len(header))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--seconds", type=float, default=0.2, help="target duration of one timed run (0.2)"
    )
    args = parser.parse_args(argv)
    env = environment()
    frames = samples()
    frame_width = max(len(name) for name, _, _ in frames)
    if not args.json:
        print_header(env, args.seconds, frame_width)
    cases = [Case.prepare(name, sender, frame, args.seconds) for name, sender, frame in frames]
    if args.json:
        rows = run_cases(cases)
        result = {
            **env,
            "repeats": REPEATS,
            "seconds_per_run": args.seconds,
            "frames": [row.to_json() for row in rows],
        }
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        run_cases(cases, on_row=lambda row: print(table_row(row, frame_width), flush=True))


if __name__ == "__main__":
    main()
