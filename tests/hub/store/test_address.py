"""Reading Redis URLs: one server, or a cluster's seed nodes."""

from __future__ import annotations

import pytest

from heartline_hub.store.address import Endpoint, parse_address


def test_a_server_url_keeps_its_credentials_database_and_tls() -> None:
    address = parse_address("rediss://alice:s3cret@db.example:6380/4")
    assert not address.cluster
    assert address.server == Endpoint(
        "db.example", 6380, None, tls=True, username="alice", password="s3cret", db=4
    )


def test_a_unix_socket_url_names_its_path() -> None:
    address = parse_address("unix:///run/valkey.sock?db=2")
    assert (address.server.path, address.server.db) == ("/run/valkey.sock", 2)


def test_a_cluster_url_lists_its_seeds_with_shared_credentials() -> None:
    address = parse_address("rediss+cluster://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002")
    assert address.cluster
    assert [(seed.host, seed.port) for seed in address.seeds] == [
        ("10.0.0.1", 7000),
        ("10.0.0.2", 6379),
        ("::1", 7002),
    ]
    assert all(
        seed.tls and seed.password == "pw" and seed.username is None for seed in address.seeds
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+cluster://127.0.0.1:7000/3", "no database"),
        ("redis+cluster://", "at least one host"),
        ("redis+cluster://127.0.0.1:port", "not a host:port"),
        ("redis+cluster://127.0.0.1:70000", "not a host:port"),
        ("redis+cluster://[::1]x", "not a host:port"),
        ("http://127.0.0.1", "not a Redis URL"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_address(url)
