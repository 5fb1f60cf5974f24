"""The slot of a live pair moves to another primary while both partners signal.

The operator's reshard moves the slot's keys a few at a time; meanwhile the
hubs follow ``ASK`` to the keys already moved, wait out ``TRYAGAIN`` while a
script's keys are split between the two primaries, and resubscribe the
pair's channel where the slot lands. Nothing is lost or repeated, and no hub
restarts.
"""

from __future__ import annotations

import asyncio

import aiohttp

from heartline_hub.store.keys import PairKeys
from tests.support.cluster import migrate_slot, owner_of_slot, slot_of, valkey_cluster
from tests.support.couples import pair_up
from tests.support.devices import Device
from tests.support.hubs import hub_starter, metrics_of
from tests.support.stories import caught_up, read_log, seqs
from tests.support.traffic import keep_signalling

LIVELY = {"signal_rate": "100", "signal_burst": "100"}


async def test_a_slot_of_a_live_pair_migrates_with_no_loss_no_repeat_no_restart(
    http: aiohttp.ClientSession,
) -> None:
    with valkey_cluster() as cluster, hub_starter(cluster.hub_url) as start:
        a_hub, b_hub = start(**LIVELY), start(**LIVELY)
        couple = await pair_up(http, a_hub.url)
        slot = slot_of(PairKeys(couple.a.pair).state)
        source = owner_of_slot(cluster, slot)
        target = next(node for node in cluster.primaries if node != source)
        a_phone = await Device.connect(http, a_hub.ws_url, couple.a.token)
        b_phone = await Device.connect(http, b_hub.ws_url, couple.b.token)

        stop = asyncio.Event()
        sending = [
            asyncio.create_task(keep_signalling(a_phone, stop, name="a")),
            asyncio.create_task(keep_signalling(b_phone, stop, name="b")),
        ]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(migrate_slot, cluster, slot, target, batch=1, pause_s=0.1)
        await asyncio.sleep(1.0)
        stop.set()
        async with asyncio.timeout(30):
            from_a, from_b = await asyncio.gather(*sending)

        assert owner_of_slot(cluster, slot) == target
        assert a_hub.running, "no hub restarted"
        assert b_hub.running, "no hub restarted"
        for sender, partner in ((from_a, b_phone), (from_b, a_phone)):
            assert len(sender.acknowledged) > 10
            await caught_up(partner, sender.acknowledged[-1].seq, timeout=10)
            name = sender.notes[0].partition("-")[0]
            heard = [e for e in partner.events if getattr(e.body, "note", "").startswith(name)]
            assert seqs(heard) == seqs(sender.acknowledged), "each signal once, in order"
        followed = [await metrics_of(http, hub) for hub in (a_hub, b_hub)]
        assert sum(
            samples.get(f'heartline_redis_redirections_total{{kind="{kind}"}}', 0)
            for samples in followed
            for kind in ("ask", "tryagain")
        ), "the hubs really met the slot half moved"
        witness = await Device.connect(http, b_hub.ws_url, couple.b.token)
        log = await read_log(witness)
        check_ins = [event for event in log if event.kind == "check_in"]
        assert sorted(seqs(check_ins)) == sorted(seqs(from_a.acknowledged + from_b.acknowledged)), (
            "the log on the new primary holds every acknowledged signal and nothing else"
        )
        for device in (a_phone, b_phone, witness):
            await device.close()
