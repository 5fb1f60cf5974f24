"""Every Redis key and channel name of the hub, built in one place.

All keys of one pair share the hash tag ``{p:PAIR}``, so that every
multi-key operation of a pair runs in one Lua script on one slot, and the
layout works unchanged on Redis Cluster. Lookups by token, invite code or
event-stream ticket (``hl:stream-ticket:<hash>``, single use, a minute) and
the timer shards are keys of their own, each in its own slot.

Hubs: ``hl:hubs`` (set of hub ids), ``hl:hub:<id>:alive`` (expires unless the
hub renews it), ``hl:hub:<id>:pairs`` (pairs it has devices of) and
``hl:hub:<id>:sweep`` (who cleans up after it died).

Per pair (``hl:{p:PAIR}:...``):

===========  =======  ==================================================
key          type     holds
===========  =======  ==================================================
pair         hash     ``created``, ``invite`` (the pending invite's hash),
                      ``member:<id>`` -> the time the member joined
devices      hash     device id -> msgpack device record
state        hash     ``version``, ``epoch``, ``first_seq``, ``base``
                      (msgpack of the State map, written once in a few
                      events), ``base_v`` (the version ``base`` is at; a
                      load folds the log's events after it), ``state``
                      (the State at ``version``, only from pairing until
                      the first append), ``online_rev``,
                      ``head_t`` (the time of the log's oldest entry), and
                      marks: ``signal:<member>`` (latest signal),
                      ``ending:<member>`` (the space whose reminder fired)
log          stream   one entry per event, id ``<seq>-0``: ``e`` the
                      encoded event frame, ``t`` its time
idem         hash     ``<device>:<client message id>`` -> digest + event
idem:exp     zset     idempotency fields scored by their expiry
online       hash     ``<member>:<device>:<connection>`` -> ``<hub>``
webhooks     hash     ``r:<id>`` -> msgpack webhook record, ``c:<id>`` ->
                      the last seq delivered to it
webhooks:lease:<id>   which hub delivers to a webhook (expires in 15 s)
ch           channel  live fan-out: ``e<seq>:<at>:<event frame>`` and control
                      messages (``r<device>`` revoked, ``u`` unpaired)
===========  =======  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HUBS",
    "PREFIX",
    "WEBHOOK_PAIRS",
    "PairKeys",
    "hub_alive_key",
    "hub_pairs_key",
    "hub_sweep_key",
    "invite_key",
    "join_attempts_key",
    "stream_ticket_key",
    "timer_shard_key",
    "token_key",
]

PREFIX = "hl"
HUBS = f"{PREFIX}:hubs"
WEBHOOK_PAIRS = f"{PREFIX}:webhook-pairs"
"""Set of the pairs with at least one webhook: what the hubs' delivery loops look at."""
"""Set of the hubs that have announced themselves; each keeps ``hub_alive_key`` alive."""


@dataclass(frozen=True, slots=True)
class PairKeys:
    pair_id: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}:{{p:{self.pair_id}}}"

    @property
    def pair(self) -> str:
        return f"{self.tag}:pair"

    @property
    def devices(self) -> str:
        return f"{self.tag}:devices"

    @property
    def state(self) -> str:
        return f"{self.tag}:state"

    @property
    def log(self) -> str:
        return f"{self.tag}:log"

    @property
    def idem(self) -> str:
        return f"{self.tag}:idem"

    @property
    def idem_expiry(self) -> str:
        return f"{self.tag}:idem:exp"

    @property
    def online(self) -> str:
        return f"{self.tag}:online"

    @property
    def channel(self) -> str:
        return f"{self.tag}:ch"

    @property
    def webhooks(self) -> str:
        return f"{self.tag}:webhooks"

    def webhook_lease(self, webhook_id: str) -> str:
        """Which hub delivers to the webhook; it expires, so it is not in :meth:`all`."""
        return f"{self.tag}:webhooks:lease:{webhook_id}"

    def all(self) -> list[str]:
        """Every key of the pair: what unpairing erases."""
        return [
            self.pair,
            self.devices,
            self.state,
            self.log,
            self.idem,
            self.idem_expiry,
            self.online,
            self.webhooks,
        ]


def token_key(token_hash: str) -> str:
    return f"{PREFIX}:token:{token_hash}"


def stream_ticket_key(ticket_hash: str) -> str:
    """A single-use ticket for an event stream; holds the hash of the token it stands for."""
    return f"{PREFIX}:stream-ticket:{ticket_hash}"


def invite_key(code_hash: str) -> str:
    return f"{PREFIX}:invite:{code_hash}"


def timer_shard_key(shard: int) -> str:
    return f"{PREFIX}:timers:{{{shard}}}"


def join_attempts_key(client: str) -> str:
    return f"{PREFIX}:join-attempts:{client}"


def hub_alive_key(hub_id: str) -> str:
    return f"{PREFIX}:hub:{hub_id}:alive"


def hub_pairs_key(hub_id: str) -> str:
    """Pairs with a device connected to this hub: what to clean up if it dies."""
    return f"{PREFIX}:hub:{hub_id}:pairs"


def hub_sweep_key(hub_id: str) -> str:
    return f"{PREFIX}:hub:{hub_id}:sweep"
