"""The presence-path benchmark brings every device online and takes it away again."""

from __future__ import annotations

from bench.loadgen.presence_path import each_comes_and_goes
from bench.loadgen.signal_path import seed_devices
from heartline_hub.node import Node
from heartline_hub.settings import Settings
from heartline_hub.store import Store
from heartline_protocol import Event, Presence, decode_from_hub


async def test_each_device_comes_online_then_leaves_and_presence_follows(redis_url: str) -> None:
    store = Store.from_url(redis_url, idempotency_ttl_ms=60_000, retention_ms=86_400_000)
    try:
        node = Node(Settings(), store)
        devices = await seed_devices(node, 2)

        await each_comes_and_goes(node, devices, in_flight=2)

        for device in devices:
            assert await store.online_members(device.pair) == set()
            frames = [frame for _, frame in await store.read_events(device.pair, 0, 100)]
            events = [decode_from_hub(frame) for frame in frames]
            seen = [
                event.body.online
                for event in events
                if isinstance(event, Event)
                and isinstance(event.body, Presence)
                and event.member == device.member
            ]
            assert seen == [True, False]
    finally:
        await store.close()
