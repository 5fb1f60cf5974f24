"""Prometheus metrics of one hub process, served at /metrics.

Labels never carry a pair, member, device or any text of a note: only kinds,
codes and operation names, so the series stay few and the partners private.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from heartline_protocol import SIGNAL_KINDS

__all__ = [
    "CONNECTIONS",
    "DELIVERY_LATENCY",
    "ERRORS",
    "EVENTS_DELIVERED",
    "HEARTBEAT_PINGS",
    "LOOP_LAG",
    "REDIS_LATENCY",
    "REDIS_REDIRECTIONS",
    "REDIS_SLOT_MAP_READS",
    "SHED",
    "SIGNALS",
    "SIGNALS_BY_KIND",
    "WAITING_TO_OPEN",
]

CONNECTIONS = Gauge("heartline_connections", "Open WebSocket sessions on this hub")
SIGNALS = Counter("heartline_signals_total", "Signals stored, by kind", ["kind"])
SIGNALS_BY_KIND = {kind: SIGNALS.labels(kind) for kind in SIGNAL_KINDS}
"""Each kind's counter, looked up once rather than by ``labels()`` on every signal."""
EVENTS_DELIVERED = Counter(
    "heartline_events_delivered_total", "Event frames queued to sessions on this hub"
)
DELIVERY_LATENCY = Histogram(
    "heartline_delivery_latency_seconds",
    "From an event being stored by another hub to this hub forwarding it to its sessions "
    "(pub/sub; this hub's own events go to its sessions at once)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ERRORS = Counter("heartline_errors_total", "Error frames sent, by code", ["code"])
REDIS_LATENCY = Histogram(
    "heartline_redis_seconds",
    "Latency of store operations, by operation",
    ["operation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)
REDIS_REDIRECTIONS = Counter(
    "heartline_redis_redirections_total",
    "Redis Cluster answers the hub followed, by kind: moved (a slot has a new primary), "
    "ask (a key of a migrating slot has moved), tryagain (a script's keys are split by a "
    "migration, sent again)",
    ["kind"],
)
REDIS_SLOT_MAP_READS = Counter(
    "heartline_redis_slot_map_reads_total",
    "Times the hub read a Redis Cluster's slot map (at start, after a slot moved or a "
    "primary failed)",
)
LOOP_LAG = Gauge("heartline_loop_lag_seconds", "How late the event loop ran its last tick")
SHED = Counter(
    "heartline_signals_shed_total",
    "Signals refused with unavailable because the hub was overloaded",
)
WAITING_TO_OPEN = Gauge(
    "heartline_sessions_waiting_to_open",
    "Sessions waiting for their turn to open or to go (a reconnect storm; overload.py)",
)
HEARTBEAT_PINGS = Counter(
    "heartline_heartbeat_pings_total",
    "Pings the hub sent to connections it had not heard from for most of a heartbeat interval",
)
