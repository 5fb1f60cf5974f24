"""The hub's pub/sub connection hands out pushes in order (store/subscriber.py).

Against real servers: the session's Valkey, and one of the test's own where
the test kills the connection.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis import exceptions as redis_errors

from heartline_hub.store.subscriber import Push, Subscriber
from tests.support.servers import valkey_server


@pytest.fixture
async def subscriber(redis_url: str) -> AsyncIterator[Subscriber]:
    opened = Subscriber(redis_url, timeout_s=5.0, connect_timeout_s=2.0)
    yield opened
    await opened.close()


async def pushes(subscriber: Subscriber, count: int) -> list[Push]:
    received: list[Push] = []
    while len(received) < count:
        push = await subscriber.next_message(timeout=2.0)
        assert push is not None, f"only {len(received)} of {count} pushes arrived"
        received.append(push)
    return received


async def quiet_until_it_fails(subscriber: Subscriber) -> None:
    """Wait as the fan-out does: one short wait after another, each finding nothing."""
    while True:
        assert await subscriber.next_message(timeout=0.1) is None


async def test_many_tasks_subscribing_at_once_share_one_connection_and_are_all_confirmed(
    subscriber: Subscriber,
) -> None:
    channels = [f"hl:test:{secrets.token_hex(4)}" for _ in range(200)]

    await asyncio.gather(*(subscriber.subscribe([channel]) for channel in channels))

    confirmed = await pushes(subscriber, len(channels))
    assert {kind for kind, _, _ in confirmed} == {b"subscribe"}
    assert sorted(channel for _, channel, _ in confirmed) == sorted(
        channel.encode() for channel in channels
    )


async def test_messages_arrive_in_the_order_they_were_published(
    subscriber: Subscriber, redis_url: str
) -> None:
    channel = f"hl:test:{secrets.token_hex(4)}"
    publisher: Any = redis.Redis.from_url(redis_url)
    try:
        await subscriber.subscribe([channel])
        assert await pushes(subscriber, 1) == [(b"subscribe", channel.encode(), 1)]

        for n in range(300):
            await publisher.publish(channel, f"m{n}")

        received = await pushes(subscriber, 300)
        assert received == [(b"message", channel.encode(), f"m{n}".encode()) for n in range(300)]
    finally:
        await publisher.aclose()


async def test_an_unsubscribed_channel_stops_delivering(
    subscriber: Subscriber, redis_url: str
) -> None:
    kept, dropped = (f"hl:test:{secrets.token_hex(4)}" for _ in range(2))
    publisher: Any = redis.Redis.from_url(redis_url)
    try:
        await subscriber.subscribe([kept, dropped])
        await pushes(subscriber, 2)
        await subscriber.unsubscribe([dropped])
        assert (await pushes(subscriber, 1))[0][:2] == (b"unsubscribe", dropped.encode())

        await publisher.publish(dropped, "lost")
        await publisher.publish(kept, "kept")

        assert await pushes(subscriber, 1) == [(b"message", kept.encode(), b"kept")]
    finally:
        await publisher.aclose()


async def test_nothing_to_hand_out_within_the_timeout_is_none(subscriber: Subscriber) -> None:
    await subscriber.subscribe([f"hl:test:{secrets.token_hex(4)}"])
    await pushes(subscriber, 1)

    assert await subscriber.next_message(timeout=0.1) is None


async def test_a_lost_connection_stays_lost_so_the_caller_catches_up_from_the_log() -> None:
    with valkey_server() as server:
        admin: Any = redis.Redis(port=server.port)
        subscriber = Subscriber(server.connection_url, timeout_s=5.0, connect_timeout_s=2.0)
        try:
            await subscriber.subscribe(["hl:test:a"])
            await pushes(subscriber, 1)
            waiting = asyncio.ensure_future(subscriber.next_message(timeout=5.0))
            await asyncio.sleep(0.1)

            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")

            with pytest.raises(redis_errors.ConnectionError):
                await asyncio.wait_for(waiting, 2.0)
            with pytest.raises(redis_errors.ConnectionError):
                await subscriber.subscribe(["hl:test:b"])
        finally:
            await subscriber.close()
            await admin.aclose()


async def test_a_server_that_stops_answering_is_noticed_while_nothing_is_published() -> None:
    with valkey_server() as server:
        admin: Any = redis.Redis(port=server.port)
        subscriber = Subscriber(server.connection_url, timeout_s=0.5, connect_timeout_s=2.0)
        try:
            await subscriber.subscribe(["hl:test:quiet"])
            await pushes(subscriber, 1)
            await admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")

            with pytest.raises(redis_errors.ConnectionError):
                await asyncio.wait_for(quiet_until_it_fails(subscriber), 2.0)
        finally:
            await admin.execute_command("CLIENT", "UNPAUSE")
            await subscriber.close()
            await admin.aclose()
