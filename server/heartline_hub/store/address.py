"""Where Redis is: one server, or the seed nodes of a Redis Cluster, from one URL.

One server: ``redis://[user:password@]host:port[/db]``, ``rediss://`` for TLS,
or ``unix://[user:password@]/path/to/socket[?db=N]``.

A cluster: ``redis+cluster://[user:password@]host:port[,host:port...]``, or
``rediss+cluster://`` for TLS. The hosts are seeds: any one that answers
leads to the others (``CLUSTER SLOTS``), so a few are enough. A cluster has
only database 0, so a path is refused. Hosts may be IPv6 in brackets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

__all__ = ["Address", "Endpoint", "parse_address"]

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
DEFAULT_PORT = 6379


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server to open a connection to, with what to say before any command."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    path: str | None = None
    """A Unix socket's path; ``host`` and ``port`` are then unused."""
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0

    def at(self, host: str, port: int) -> Endpoint:
        """The same credentials and TLS at another node (a cluster's)."""
        return Endpoint(host, port, None, self.tls, self.username, self.password, 0)

    @property
    def name(self) -> str:
        return self.path or f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Address:
    seeds: tuple[Endpoint, ...]
    cluster: bool

    @property
    def server(self) -> Endpoint:
        """The one server of a non-cluster address."""
        return self.seeds[0]


def parse_address(url: str) -> Address:
    """Read a Redis URL; ``ValueError`` names what is wrong with it."""
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return Address(_cluster_seeds(url, tls=CLUSTER_SCHEMES[scheme]), cluster=True)
    try:
        options = parse_url(url)
    except ValueError as error:
        raise ValueError(
            f"not a Redis URL ({error}); a cluster's is redis+cluster://host:port,host:port"
        ) from None
    return Address((_endpoint(cast(Mapping[str, object], options)),), cluster=False)


def _endpoint(options: Mapping[str, object]) -> Endpoint:
    kind = options.get("connection_class")
    username, password = options.get("username"), options.get("password")
    return Endpoint(
        host=str(options.get("host", "localhost")),
        port=int(str(options.get("port", DEFAULT_PORT))),
        path=str(options["path"]) if kind is UnixDomainSocketConnection else None,
        tls=kind is SSLConnection,
        username=None if username is None else str(username),
        password=None if password is None else str(password),
        db=int(str(options.get("db", 0))),
    )


def _cluster_seeds(url: str, *, tls: bool) -> tuple[Endpoint, ...]:
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    if parts.path not in {"", "/"}:
        raise ValueError("a cluster URL has no database: a cluster only has database 0")
    if not hosts:
        raise ValueError("a cluster URL needs at least one host:port")
    template = Endpoint(
        tls=tls,
        username=unquote(username) or None,
        password=unquote(password) if password else None,
    )
    return tuple(template.at(*_host_port(seed)) for seed in hosts.split(","))


def _host_port(seed: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 6379), ``[v6]:port`` or ``[v6]``."""
    if seed.startswith("["):
        host, _, rest = seed[1:].partition("]")
        port = rest.removeprefix(":") if rest else str(DEFAULT_PORT)
        valid_rest = rest == "" or rest.startswith(":")
    else:
        host, colon, port = seed.partition(":")
        port = port if colon else str(DEFAULT_PORT)
        valid_rest = ":" not in port
    if not host or not valid_rest or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a host:port in a cluster URL: {seed!r}")
    return host, int(port)
