"""Timers at scale: 100,000 spaces ending within one minute, fired by two hubs.

    python -m bench.loadgen.timers [--pairs 50000] [--spread 60] [--lead 45]

Two hubs share one Valkey (persistence on): one pinned to core 0, one to
core 1 (beside Valkey and this process, idle while timers fire). ``--pairs``
pairs are written through the hub's own store and journal; then each of
their members (2 x pairs spaces) takes a space, its ``space_ended`` timer
scheduled as a ``need_space`` does (timers.py), ending at a moment drawn
uniformly from a window of ``--spread`` seconds that opens ``--lead``
seconds after the first space is written. The hubs claim and fire the
timers. Afterwards every pair's log is read: each space must have ended
exactly once, and its lateness is the ``space_ended`` event's time minus
the space's end. Prints one JSON line and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from heartline_hub import decisions
from heartline_hub.clock import now_ms
from heartline_hub.journal import Journal
from heartline_hub.settings import Settings
from heartline_hub.store import Store
from heartline_hub.timers import Timers
from heartline_protocol import Event, NeedSpace, SpaceEnded, decode_from_hub

from .run import HUB_CORE, LOAD_CORE, Stack, cpu_seconds, on_fresh_stack
from .seed import in_parallel, seed_pair

if TYPE_CHECKING:
    from heartline_hub.node import Node

__all__ = ["main"]

GRACE_S = 15.0
"""How long after the last space's end the hubs get to fire what is left."""


async def make_pairs(store: Store, journal: Journal, count: int) -> list[tuple[str, str, str]]:
    """``count`` pairs of two members: (pair, first member, second member)."""
    pairs: list[tuple[str, str, str]] = []

    async def one(_: int) -> None:
        pair = await seed_pair(store, journal)
        pairs.append((pair.id, pair.first.member, pair.second.member))

    await in_parallel(count, one)
    return pairs


async def take_spaces(
    store: Store, journal: Journal, pairs: list[tuple[str, str, str]], opens: int, spread_ms: int
) -> dict[tuple[str, str], int]:
    """Every member takes a space ending in [opens, opens + spread_ms); their ends."""
    node = cast("Node", SimpleNamespace(settings=Settings(), store=store))
    timers = Timers(node)
    ends: dict[tuple[str, str], int] = {}
    members = [(pair, member) for pair, a, b in pairs for member in (a, b)]

    async def one(index: int) -> None:
        pair_id, member = members[index]
        until = opens + random.randrange(spread_ms)
        duration = max(1, (until - now_ms()) // 1000)
        await timers.schedule(pair_id, member, until, duration)
        body = NeedSpace(duration=duration, note="a walk", until=until)
        await journal.record(pair_id, decisions.signal(member, "d_bench", body))
        ends[(pair_id, member)] = until

    await in_parallel(len(members), one)
    return ends


async def endings(store: Store, pairs: list[tuple[str, str, str]]) -> list[tuple[str, str, Event]]:
    found: list[tuple[str, str, Event]] = []

    async def one(index: int) -> None:
        pair_id = pairs[index][0]
        for _, frame in await store.read_events(pair_id, 0, 100):
            event = decode_from_hub(frame)
            if isinstance(event, Event) and isinstance(event.body, SpaceEnded):
                found.append((pair_id, event.member, event))

    await in_parallel(len(pairs), one)
    return found


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return dict.fromkeys(("p50", "p99", "p99.9", "max"))

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {"p50": rank(0.5), "p99": rank(0.99), "p99.9": rank(0.999), "max": ordered[-1]}


async def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    assert stack.hub is not None
    assert stack.second is not None
    hub_pids = [stack.hub.pid, stack.second.pid]
    url = stack.valkey.connection_url
    store = Store.from_url(url, idempotency_ttl_ms=86_400_000, retention_ms=30 * 86_400_000)
    journal = Journal(store)
    try:
        started = time.perf_counter()
        pairs = await make_pairs(store, journal, args.pairs)
        pairs_s = time.perf_counter() - started
        opens = now_ms() + int(args.lead * 1000)
        started = time.perf_counter()
        ends = await take_spaces(store, journal, pairs, opens, int(args.spread * 1000))
        spaces_s = time.perf_counter() - started
        spaces_done = now_ms()
        cpu_before = [cpu_seconds(pid) for pid in hub_pids]
        window_start = time.perf_counter()
        await asyncio.sleep(max(0.0, (opens - now_ms()) / 1000 + args.spread + GRACE_S))
        seconds = time.perf_counter() - window_start
        cpu = [round((cpu_seconds(pid) - before) / seconds, 3)
               for pid, before in zip(hub_pids, cpu_before, strict=True)]  # fmt: skip
        fired = await endings(store, pairs)
    finally:
        await store.close()
    per_space: dict[tuple[str, str], list[Event]] = {}
    for pair_id, member, event in fired:
        per_space.setdefault((pair_id, member), []).append(event)
    lateness = [float(events[0].at - ends[key]) for key, events in per_space.items() if key in ends]
    return {
        "pairs": args.pairs,
        "spaces": len(ends),
        "writing_pairs_s": round(pairs_s, 1),
        "writing_spaces_s": round(spaces_s, 1),
        "last_space_written_before_window_ms": opens - spaces_done,
        "ended_once": sum(1 for events in per_space.values() if len(events) == 1),
        "ended_twice_or_more": sum(1 for events in per_space.values() if len(events) > 1),
        "never_ended": len(ends) - len(per_space),
        "lateness_ms": percentiles_ms(lateness),
        "hub_cpu_over_window": cpu,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=45.0)
    args = parser.parse_args(argv)
    result = on_fresh_stack(Stack(persistence=True, hubs=2), functools.partial(run, args))
    result["hub_cores"] = [HUB_CORE, LOAD_CORE]
    print(json.dumps(result))
    print(
        f"{result['spaces']} spaces ending within {args.spread:g} s, two hubs: "
        f"{result['ended_once']} ended once, {result['ended_twice_or_more']} more than once, "
        f"{result['never_ended']} never; lateness ms {result['lateness_ms']}; "
        f"hub CPU {result['hub_cpu_over_window']}; spaces written in "
        f"{result['writing_spaces_s']} s, the last {result['last_space_written_before_window_ms']} "
        f"ms before the window opened"
    )


if __name__ == "__main__":
    main()
