"""A primary of the cluster dies while partners signal through two hubs.

With ``--redis-wait-replicas 1`` a signal is answered only once a replica
has it, so the replica the cluster promotes has every signal a device was
told is stored. Devices get ``unavailable`` for the seconds the failover
takes, send again with the same id, and go on.
"""

from __future__ import annotations

import asyncio

import aiohttp

from heartline_hub.store.keys import PairKeys
from tests.support.cluster import fail_primary, owner_of_slot, slot_of, valkey_cluster
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import HubProcess, hub_starter
from tests.support.stories import caught_up, read_log, seqs
from tests.support.traffic import keep_signalling

CONFIRMED = {"redis_wait_replicas": "1", "signal_rate": "100", "signal_burst": "100"}


async def test_a_primary_dies_mid_traffic_and_no_acknowledged_signal_is_lost(
    http: aiohttp.ClientSession,
) -> None:
    with valkey_cluster(replicas=2) as cluster, hub_starter(cluster.hub_url) as start:
        a_hub, b_hub = start(**CONFIRMED), start(**CONFIRMED)
        couple = await pair_up(http, a_hub.url)
        doomed = owner_of_slot(cluster, slot_of(PairKeys(couple.a.pair).state))
        a_phone = await Device.connect(http, a_hub.ws_url, couple.a.token)
        b_phone = await Device.connect(http, b_hub.ws_url, couple.b.token)

        stop = asyncio.Event()
        sending = asyncio.create_task(keep_signalling(a_phone, stop, name="a"))
        await asyncio.sleep(0.5)
        failing_over = asyncio.create_task(asyncio.to_thread(fail_primary, cluster, doomed))
        readiness = await _readiness_until(a_hub, failing_over)
        await asyncio.sleep(1.5)
        stop.set()
        async with asyncio.timeout(30):
            signalled = await sending

        assert signalled.unavailable > 0, "the pair's slot had no primary for a while"
        assert all(readiness), "a hub stays ready: the other primaries' pairs are served"
        assert len(readiness) > 10
        told_stored = signalled.acknowledged
        assert len(told_stored) > 20
        await caught_up(b_phone, told_stored[-1].seq, timeout=10)
        heard = [event for event in b_phone.events if event.kind == "check_in"]
        assert seqs(heard) == seqs(told_stored), "every acknowledged signal, once, in order"
        assert [event.body for event in heard] == [event.body for event in told_stored]

        witness = await Device.connect(http, b_hub.ws_url, couple.b.token)
        kept = [event for event in await read_log(witness) if event.kind == "check_in"]
        assert seqs(kept) == seqs(told_stored), "the promoted replica has them all"
        assert "fanout_log_rewound" not in a_hub.logs() + b_hub.logs()
        for device in (a_phone, b_phone, witness):
            await device.close()


async def _readiness_until(hub: HubProcess, done: asyncio.Task[object]) -> list[bool]:
    """The hub's /readyz answers, every 0.1 s, until ``done`` is."""
    answers = []
    while not done.done():
        answers.append(await asyncio.to_thread(hub.ready))
        await asyncio.sleep(0.1)
    await done
    return answers
