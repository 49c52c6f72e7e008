"""Build the one shared `httpx.AsyncClient` every feed is fetched with.

The client never follows redirects itself (`fetch_feed` follows them hop by hop, so each
hop is checked), ignores proxy environment variables (`trust_env=False`), sends a
descriptive User-Agent, asks for gzip or deflate only (the fetcher inflates the body
itself, in bounded pieces), and connects through `GuardedBackend`, which checks the
address it actually connects to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import httpcore
import httpx

from worker.fetch.guard import AddressPolicy, GuardedBackend, Resolver

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
DEFAULT_CONTACT_URL = "https://github.com/wirewatch/wirewatch"


def _package_version() -> str:
    """Return the installed wirewatch version, or 0 when it is not installed."""
    try:
        return version("wirewatch")
    except PackageNotFoundError:  # pragma: no cover - the package is always installed
        return "0"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Per-request limits and the address policy `fetch_feed` enforces."""

    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    total_timeout_seconds: float = 30.0
    max_concurrency: int = 20
    max_per_host: int = 2
    policy: AddressPolicy = field(default_factory=AddressPolicy)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How the shared client connects: timeouts, pool size, identity and address policy."""

    contact_url: str = DEFAULT_CONTACT_URL
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 20.0
    max_connections: int = 50
    max_keepalive_connections: int = 20
    keepalive_expiry_seconds: float = 30.0
    verify_tls: bool = True
    limits: FetchLimits = field(default_factory=FetchLimits)

    @property
    def user_agent(self) -> str:
        """The User-Agent header: `wirewatch/<version> (+<contact url>)`."""
        return f"wirewatch/{_package_version()} (+{self.contact_url})"


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on `GuardedBackend`.

    httpx does not take a network backend as an argument, so the pool it builds is
    replaced by an equal one that connects through the guard; request conversion and the
    mapping of httpcore errors to httpx errors stay httpx's.
    """

    def __init__(self, config: FetchConfig, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=config.verify_tls, trust_env=False),
            max_connections=config.max_connections,
            max_keepalive_connections=config.max_keepalive_connections,
            keepalive_expiry=config.keepalive_expiry_seconds,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(config.limits.policy, resolver=resolver),
        )


def build_client(config: FetchConfig, *, resolver: Resolver | None = None) -> httpx.AsyncClient:
    """Return the shared client; close it with `await client.aclose()` at shutdown.

    `resolver` replaces the system resolver (tests give names fixed addresses).
    """
    timeout = httpx.Timeout(
        connect=config.connect_timeout_seconds,
        read=config.read_timeout_seconds,
        write=config.read_timeout_seconds,
        pool=config.connect_timeout_seconds + config.read_timeout_seconds,
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(config, resolver),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={
            "User-Agent": config.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        },
    )
