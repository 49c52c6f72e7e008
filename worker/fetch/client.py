"""Build the one shared `httpx.AsyncClient` every feed is fetched with.

The client never follows redirects itself (`fetch_feed` follows them hop by hop, so each
hop is checked), ignores proxy environment variables (`trust_env=False`), sends a
descriptive User-Agent, asks for gzip or deflate only (the fetcher inflates the body
itself, in bounded pieces), and sends through `LeanTransport`, which checks the address
it actually connects to and costs far less CPU per request than httpcore's pool.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import httpx

from worker.fetch.guard import AddressPolicy, Resolver
from worker.fetch.transport import LeanTransport

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
    max_keepalive_connections: int = 100
    keepalive_expiry_seconds: float = 30.0
    verify_tls: bool = True
    limits: FetchLimits = field(default_factory=FetchLimits)

    @property
    def user_agent(self) -> str:
        """The User-Agent header: `wirewatch/<version> (+<contact url>)`."""
        return f"wirewatch/{_package_version()} (+{self.contact_url})"


@cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The TLS settings every client of this process shares.

    Loading the CA certificates takes some 20 ms of CPU, once per process instead of once
    per polling cycle (a cycle builds its client).
    """
    return httpx.create_ssl_context(verify=verify, trust_env=False)


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
        transport=LeanTransport(
            policy=config.limits.policy,
            resolver=resolver,
            ssl_context=tls_context(config.verify_tls),
            max_connections=config.max_connections,
            max_keepalive=config.max_keepalive_connections,
            keepalive_expiry=config.keepalive_expiry_seconds,
        ),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={
            "User-Agent": config.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        },
    )
