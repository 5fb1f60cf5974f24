"""Every setting of the hub, from flags or environment variables.

One table (:data:`SETTINGS`) names each setting once: its flag, its
environment variable, its type, its default and its help text. The command
line (``heartline-hub --help``) and :func:`load_settings` are both built from
it, so a setting cannot exist in one place and be missing from the other.
Precedence: flag, then environment variable, then default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartline_protocol import Limits, ProtocolError

from .store.address import parse_address

__all__ = ["SETTINGS", "Settings", "build_parser", "load_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    redis_wait_replicas: int = 0
    redis_wait_ms: int = 500
    data_dir: Path = Path("data")
    hub_id: str | None = None
    log_level: str = "info"
    log_format: str = "json"
    event_loop: str = "uvloop"
    listen_backlog: int = 4096
    overload_lag_ms: int = 500
    heartbeat_ms: int = 25_000
    websocket_deflate: bool = False
    handshake_timeout_s: float = 10.0
    drain_timeout_s: float = 10.0
    outbound_queue: int = 512
    max_frame_bytes: int = 8192
    min_space_seconds: int = 60
    max_space_seconds: int = 86_400
    space_ending_seconds: int = 300
    signal_rate: int = 5
    signal_burst: int = 20
    retention_days: float = 30.0
    idempotency_ttl_s: int = 86_400
    invite_ttl_s: int = 86_400
    join_attempts_per_minute: int = 10
    timer_shards: int = 16
    timer_poll_ms: int = 1000
    timer_lease_ms: int = 5_000
    refused_frames_limit: int = 20
    frame_rate: int = 50
    glance_wait_max_s: float = 30.0
    webhook_poll_ms: int = 500
    webhook_timeout_s: float = 10.0
    webhook_give_up_s: float = 86_400.0

    @property
    def limits(self) -> Limits:
        """The limits announced in ``welcome`` and enforced on every frame."""
        return Limits(
            max_frame_bytes=self.max_frame_bytes,
            min_space_seconds=self.min_space_seconds,
            max_space_seconds=self.max_space_seconds,
            space_ending_seconds=self.space_ending_seconds,
            signal_rate=self.signal_rate,
            signal_burst=self.signal_burst,
        )

    @property
    def retention_ms(self) -> int:
        return int(self.retention_days * 86_400_000)


def boolean(raw: str) -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0), for flags and environment variables."""
    value = raw.strip().lower()
    if value in {"on", "true", "yes", "1"}:
        return True
    if value in {"off", "false", "no", "0"}:
        return False
    raise ValueError(f"{raw!r} is not on or off")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    help: str
    parse: Callable[[str], Any] = str
    minimum: float | None = None
    maximum: float | None = None

    @property
    def env(self) -> str:
        return "REDIS_URL" if self.name == "redis_url" else f"HEARTLINE_{self.name.upper()}"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "address to listen on"),
    Setting("port", "port to listen on", int, 1, 65535),
    Setting(
        "redis_url",
        "Redis/Valkey URL: redis://host:port/db, rediss:// (TLS), unix:///path, or a "
        "cluster's seed nodes as redis+cluster://host:port,host:port (rediss+cluster:// "
        "for TLS); unset: start an embedded Valkey with append-only persistence in --data-dir",
    ),
    Setting(
        "redis_wait_replicas",
        "replicas that must confirm a signal before it is answered and fanned out "
        "(WAIT); 0: answer once the primary has it, so a failover can lose the last "
        "signals (docs/operations.md)",
        int,
        0,
        16,
    ),
    Setting(
        "redis_wait_ms",
        "how long a signal waits for its replicas' confirmation before it is answered "
        "unavailable (under the 5 s after which the hub gives up on Redis)",
        int,
        1,
        4_000,
    ),
    Setting("data_dir", "folder of the embedded Valkey's data", Path),
    Setting("hub_id", "this hub's name in logs and presence (default: host-pid-random)"),
    Setting("log_level", "debug, info, warning or error"),
    Setting("log_format", "json (one object a line) or console"),
    Setting("event_loop", "uvloop (faster) or asyncio (the standard library's)"),
    Setting(
        "overload_lag_ms",
        "event-loop lag past which new signals are refused with unavailable for a "
        "second (0: never)",
        int,
        0,
        60_000,
    ),
    Setting(
        "listen_backlog",
        "connections the kernel queues before the hub accepts them (capped by "
        "net.core.somaxconn): reconnect storms arrive all at once",
        int,
        1,
        65535,
    ),
    Setting("heartbeat_ms", "heartbeat interval announced to clients (SPEC 7.7)", int, 100),
    Setting(
        "websocket_deflate",
        "on: accept permessage-deflate from clients that offer it (frames are small "
        "msgpack; a compressed connection holds zlib contexts, about 100 KiB more "
        "memory, BENCHMARKS.md); off: never",
        boolean,
    ),
    Setting("handshake_timeout_s", "seconds a new connection has to send hello", float, 0.1),
    Setting("drain_timeout_s", "seconds a draining hub waits for in-flight signals", float, 0),
    Setting("outbound_queue", "frames queued for one slow client before it is cut off", int, 2),
    Setting("max_frame_bytes", "largest frame a client may send", int, 256, 1 << 20),
    Setting("min_space_seconds", "shortest need_space duration", int, 1),
    Setting("max_space_seconds", "longest need_space duration", int, 1),
    Setting("space_ending_seconds", "space_ending reminder this long before the end", int, 1),
    Setting("signal_rate", "signals per second one device may send, sustained", int, 1),
    Setting("signal_burst", "signals one device may send at once", int, 1),
    Setting("retention_days", "days of event history kept for resume and sync", float, 0.0001),
    Setting("idempotency_ttl_s", "seconds a client message id is remembered", int, 1),
    Setting("invite_ttl_s", "seconds an invite code stays valid", int, 1),
    Setting("join_attempts_per_minute", "wrong invite codes per client address a minute", int, 1),
    Setting("timer_shards", "sorted sets the timers are spread over", int, 1, 1024),
    Setting(
        "timer_poll_ms",
        "longest wait between looks for due timers (a hub also looks when the next is due)",
        int,
        10,
    ),
    Setting("timer_lease_ms", "how long a claimed timer is reserved for its hub", int, 100),
    Setting("refused_frames_limit", "refused frames in 10 s before a client is cut off", int, 1),
    Setting("frame_rate", "frames a second a connection may send (bursts of 4x)", int, 1),
    Setting(
        "glance_wait_max_s",
        "longest a glance long poll waits for a change, in seconds (keep it under "
        "the idle timeout of the proxies in front)",
        float,
        0,
        300,
    ),
    Setting("webhook_poll_ms", "how often each hub looks for webhooks behind the log", int, 10),
    Setting("webhook_timeout_s", "seconds a webhook URL has to answer a delivery", float, 0.1),
    Setting(
        "webhook_give_up_s",
        "seconds a webhook URL may keep failing before it is disabled",
        float,
        0,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartline-hub",
        description="The Heartline hub: WebSocket and HTTP for paired partner devices.",
        epilog="Every flag can also be set by the environment variable shown.",
    )
    defaults = Settings()
    for setting in SETTINGS:
        default = getattr(defaults, setting.name)
        shown = "unset" if default is None else _shown(default)
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            type=setting.parse,
            default=None,
            help=f"{setting.help} [env {setting.env}; default {shown}]",
        )
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from flags, then the environment, then the defaults."""
    environ = os.environ if environ is None else environ
    flags = vars(build_parser().parse_args(argv))
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if flags.get(setting.name) is not None:
            values[setting.name] = flags[setting.name]
        elif environ.get(setting.env):
            values[setting.name] = _parse_env(setting, environ[setting.env])
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    """Refuse settings the hub cannot run with, naming the setting."""
    for setting in SETTINGS:
        _check_range(setting, getattr(settings, setting.name))
    try:
        settings.limits  # noqa: B018 - building the limits validates them
    except ProtocolError as error:
        raise SystemExit(f"invalid setting: {error.message}") from None
    if settings.redis_url is not None:
        try:
            parse_address(settings.redis_url)
        except ValueError as error:
            raise SystemExit(f"invalid setting --redis-url / REDIS_URL: {error}") from None
    if settings.log_format not in {"json", "console"}:
        raise SystemExit("invalid setting: log_format must be json or console")
    if settings.event_loop not in {"uvloop", "asyncio"}:
        raise SystemExit("invalid setting: event_loop must be uvloop or asyncio")


def _shown(default: Any) -> Any:
    if isinstance(default, bool):
        return "on" if default else "off"
    return default


def _check_range(setting: Setting, value: Any) -> None:
    where = f"{setting.flag} / {setting.env}"
    if setting.minimum is not None and value < setting.minimum:
        raise SystemExit(f"invalid setting {where}: {value} is below {setting.minimum}")
    if setting.maximum is not None and value > setting.maximum:
        raise SystemExit(f"invalid setting {where}: {value} is above {setting.maximum}")


def _parse_env(setting: Setting, raw: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError:
        raise SystemExit(
            f"{setting.env}: cannot read {raw!r} as {setting.parse.__name__}"
        ) from None
