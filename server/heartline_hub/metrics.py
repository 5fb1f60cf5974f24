"""Prometheus metrics of one hub process, served at /metrics.

Labels never carry a pair, member, device or any text of a note: only kinds,
codes and operation names, so the series stay few and the partners private.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONNECTIONS",
    "DELIVERY_LATENCY",
    "ERRORS",
    "EVENTS_DELIVERED",
    "LOOP_LAG",
    "REDIS_LATENCY",
    "SHED",
    "SIGNALS",
]

CONNECTIONS = Gauge("heartline_connections", "Open WebSocket sessions on this hub")
SIGNALS = Counter("heartline_signals_total", "Signals stored, by kind", ["kind"])
EVENTS_DELIVERED = Counter(
    "heartline_events_delivered_total", "Event frames queued to sessions on this hub"
)
DELIVERY_LATENCY = Histogram(
    "heartline_delivery_latency_seconds",
    "From an event being stored to this hub forwarding it to its sessions",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ERRORS = Counter("heartline_errors_total", "Error frames sent, by code", ["code"])
REDIS_LATENCY = Histogram(
    "heartline_redis_seconds",
    "Latency of store operations, by operation",
    ["operation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)
LOOP_LAG = Gauge("heartline_loop_lag_seconds", "How late the event loop ran its last tick")
SHED = Counter(
    "heartline_signals_shed_total",
    "Signals refused with unavailable because the hub was overloaded",
)
