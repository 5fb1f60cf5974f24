"""``heartline-hub``: run the hub (``heartline-hub --help`` lists every setting)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog

from . import listener
from .app import NODE, create_app
from .embedded import EmbeddedValkey
from .logs import configure_logging
from .runtime import new_event_loop, tune_garbage_collector
from .settings import Settings, load_settings
from .store import Store

__all__ = ["main"]

log = structlog.get_logger("heartline_hub")


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(sys.argv[1:] if argv is None else argv)
    configure_logging(settings.log_level, settings.log_format)
    embedded = None
    redis_url = settings.redis_url
    if redis_url is None:
        embedded = EmbeddedValkey(settings.data_dir)
        redis_url = embedded.start()
        log.info("embedded_valkey_started", redis=redis_url, data_dir=str(embedded.data_dir))
    try:
        _serve(settings, redis_url)
    finally:
        if embedded is not None:
            embedded.stop()
            log.info("embedded_valkey_stopped")


def _serve(settings: Settings, redis_url: str) -> None:
    store = Store.from_url(
        redis_url,
        idempotency_ttl_ms=settings.idempotency_ttl_s * 1000,
        retention_ms=settings.retention_ms,
        wait_replicas=settings.redis_wait_replicas,
        wait_ms=settings.redis_wait_ms,
    )
    app = create_app(settings, store)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host

    def announce() -> None:
        log.info(
            "hub_listening",
            url=f"http://{host}:{settings.port}",
            websocket=f"ws://{host}:{settings.port}/v1/ws",
            redis=_without_password(redis_url),
        )

    tune_garbage_collector()
    listener.run(
        app, app[NODE], settings, loop=new_event_loop(settings.event_loop), announce=announce
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
