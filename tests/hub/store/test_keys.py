"""Every key of one pair lands in one Redis Cluster slot; global keys stand apart (keys.py)."""

from __future__ import annotations

import re

from heartline_hub.store.keys import (
    PREFIX,
    WEBHOOK_PAIRS,
    PairKeys,
    invite_key,
    join_attempts_key,
    stream_ticket_key,
    timer_shard_key,
    token_key,
)

PAIR = "p_7Hq2xYz"


def hash_tag(key: str) -> str | None:
    """What Redis Cluster hashes: the text between the first ``{`` and the next ``}``."""
    found = re.search(r"\{([^}]*)\}", key)
    return found.group(1) if found and found.group(1) else None


def test_every_key_of_a_pair_shares_the_pairs_hash_tag() -> None:
    keys = PairKeys(PAIR)
    every = [*keys.all(), keys.channel, keys.webhook_lease("wh_1")]
    assert {hash_tag(key) for key in every} == {f"p:{PAIR}"}
    assert all(key.startswith(f"{PREFIX}:") for key in every)


def test_the_keys_of_a_pair_are_all_different() -> None:
    keys = PairKeys(PAIR)
    lease = keys.webhook_lease("wh_1")
    names = [keys.pair, keys.devices, keys.state, keys.log, keys.idem, keys.idem_expiry,
             keys.online, keys.webhooks, keys.channel, lease]  # fmt: skip
    assert len(set(names)) == len(names)
    assert set(keys.all()) == set(names) - {keys.channel, lease}


def test_two_pairs_never_share_a_key_or_a_tag() -> None:
    one, other = PairKeys("p_one"), PairKeys("p_onE")
    assert not set(one.all()) & set(other.all())
    assert hash_tag(one.state) != hash_tag(other.state)


def test_global_keys_are_not_in_any_pairs_slot() -> None:
    pair_tag = f"p:{PAIR}"
    global_keys = [token_key("ab12"), invite_key("cd34"), join_attempts_key("127.0.0.1"),
                   timer_shard_key(0), timer_shard_key(1), stream_ticket_key("ef56"),
                   WEBHOOK_PAIRS]  # fmt: skip
    assert len(set(global_keys)) == len(global_keys)
    assert all(hash_tag(key) != pair_tag for key in global_keys)
    assert all(key.startswith(f"{PREFIX}:") for key in global_keys)


def test_each_timer_shard_is_a_slot_of_its_own() -> None:
    tags = {hash_tag(timer_shard_key(shard)) for shard in range(16)}
    assert len(tags) == 16
    assert None not in tags


def test_a_token_or_invite_lookup_is_not_confused_with_a_pair_key() -> None:
    """Someone's token hash that looks like a pair id still names a lookup key."""
    assert token_key(PAIR) not in PairKeys(PAIR).all()
    assert invite_key(PAIR) not in PairKeys(PAIR).all()
