"""Fetch feeds over HTTP: conditional, capped, redirect by redirect, errors as values.

`fetch_feed` never raises for a network or HTTP problem: the `FetchResult` carries a
`FeedError` whose `kind` is one of::

    refused             the scheme or address check said no (first URL or a redirect)
    timeout             connect, read or the whole-request deadline ran out
    connect             the host could not be resolved or reached
    network             the connection broke or the server spoke bad HTTP
    too_large           the decoded body passed `FetchLimits.max_bytes`
    too_many_redirects  more than `FetchLimits.max_redirects` hops
    gone                410 Gone: the caller disables the feed
    http_4xx, http_5xx  any other error status (429 and 503 carry `retry_after_seconds`)
    malformed           a redirect without Location, or an undecodable compressed body
    invalid_url         a URL httpx cannot send (control characters, a bad IDNA label)

How redirects are followed: hop by hop, each target checked; `permanent_redirect_to`
is set only when every hop was 301 or 308 and the final answer was 200 or 304.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from worker.errors import FeedError
from worker.fetch.body import read_capped
from worker.fetch.client import FetchLimits
from worker.fetch.guard import check_url
from worker.fetch.politeness import cache_floor, parse_retry_after, response_now

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One feed to fetch, with the validators and body hash kept from the last fetch."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch gave: a body to parse, or a reason not to, and the server's hints.

    `body` is set only for a 200 whose body changed; `not_modified` means a 304,
    `unchanged` a 200 with the same body hash as last time (skip parsing either way).
    """

    url: str
    requested_url: str
    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    not_modified: bool = False
    unchanged: bool = False
    permanent_redirect_to: str | None = None
    retry_after_seconds: float | None = None
    cache_floor_seconds: float | None = None
    error: FeedError | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the fetch succeeded (a new body, a 304, or an unchanged body)."""
        return self.error is None


def body_hash(body: bytes) -> str:
    """Return the hash a body is compared by between fetches."""
    return hashlib.sha256(body).hexdigest()


def _status_error(url: str, status: int) -> FeedError:
    """Return the error for a non-success, non-redirect status."""
    if status == 410:
        return FeedError(url, "410 Gone", kind="gone")
    if 400 <= status < 500:
        return FeedError(url, f"HTTP {status}", kind="http_4xx")
    if status >= 500:
        return FeedError(url, f"HTTP {status}", kind="http_5xx")
    return FeedError(url, f"unexpected HTTP {status}", kind="http_other")


def _transport_error(url: str, error: Exception) -> FeedError:
    """Wrap an httpx error in a FeedError with a stable kind."""
    if isinstance(error, httpx.TimeoutException):
        return FeedError(url, f"timed out ({type(error).__name__})", kind="timeout")
    if isinstance(error, httpx.ConnectError):
        return FeedError(url, f"cannot connect: {error}", kind="connect")
    if isinstance(error, httpx.UnsupportedProtocol):
        return FeedError(url, f"invalid URL: {error}", kind="refused")
    return FeedError(url, f"{type(error).__name__}: {error}", kind="network")


def _header_map(response: httpx.Response) -> dict[str, str]:
    """Return the response headers as a plain dict (lower-case names, repeats joined).

    httpx's `Headers.get` decodes every header on each call; a fetch looks up about ten.
    """
    answer: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        answer[name] = f"{answer[name]}, {value}" if name in answer else value
    return answer


def _conditional_headers(request: FetchRequest) -> dict[str, str]:
    """Return the validators to send with the request."""
    headers = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    return headers


async def _fetch(
    client: httpx.AsyncClient, request: FetchRequest, limits: FetchLimits, started: float
) -> FetchResult:
    """Follow the redirect chain of one request and read the final answer."""
    url = request.url
    permanent = True
    hops = 0
    headers = _conditional_headers(request)
    while True:
        check_url(url, limits.policy)
        response = await client.send(
            client.build_request("GET", _parsed_url(url), headers=headers), stream=True
        )
        try:
            status = response.status_code
            answer = _header_map(response)
            if status in REDIRECTS:
                location = answer.get("location")
                if not location:
                    raise FeedError(url, f"HTTP {status} without Location", kind="malformed")
                hops += 1
                if hops > limits.max_redirects:
                    raise FeedError(
                        request.url,
                        f"more than {limits.max_redirects} redirects",
                        kind="too_many_redirects",
                    )
                permanent = permanent and status in PERMANENT
                url = urljoin(url, location.strip())
                continue
            now = response_now(answer.get("date"), datetime.now(UTC))
            moved_to = url if hops and permanent and status in {200, 304} else None
            base = FetchResult(
                url=url,
                requested_url=request.url,
                status=status,
                permanent_redirect_to=moved_to,
                cache_floor_seconds=cache_floor(
                    answer.get("cache-control"), answer.get("expires"), now
                ),
            )
            if status == 304:
                return replace(
                    base,
                    not_modified=True,
                    etag=answer.get("etag") or request.etag,
                    last_modified=answer.get("last-modified") or request.last_modified,
                    body_hash=request.last_body_hash,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                )
            if not 200 <= status < 300:
                retry_after = None
                if status in {429, 503}:
                    retry_after = parse_retry_after(answer.get("retry-after"), now)
                return replace(
                    base,
                    error=_status_error(url, status),
                    retry_after_seconds=retry_after,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                )
            length = answer.get("content-length", "")
            encoding = answer.get("content-encoding", "")
            if length.isdigit() and int(length) > limits.max_bytes and not encoding:
                raise FeedError(url, f"Content-Length {length} passes the cap", kind="too_large")
            body = await read_capped(url, response.aiter_raw(), encoding, limits.max_bytes)
        finally:
            await response.aclose()
        digest = body_hash(body)
        unchanged = digest == request.last_body_hash
        return replace(
            base,
            body=None if unchanged else body,
            content_type=answer.get("content-type"),
            etag=answer.get("etag"),
            last_modified=answer.get("last-modified"),
            body_hash=digest,
            unchanged=unchanged,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


async def fetch_feed(
    client: httpx.AsyncClient, request: FetchRequest, limits: FetchLimits
) -> FetchResult:
    """Fetch one feed; every network, HTTP or policy problem is returned as `error`."""
    started = time.perf_counter()
    error: FeedError
    try:
        async with asyncio.timeout(limits.total_timeout_seconds):
            return await _fetch(client, request, limits, started)
    except FeedError as caught:
        error = caught if caught.url == request.url else _rewrap(caught, request.url)
    except TimeoutError:
        error = FeedError(request.url, "the request deadline passed", kind="timeout")
    except httpx.HTTPError as caught:
        error = _transport_error(request.url, caught)
    except (httpx.InvalidURL, ValueError) as caught:  # includes IDNA errors
        error = FeedError(request.url, f"invalid URL: {caught}", kind="invalid_url")
    return FetchResult(
        url=request.url,
        requested_url=request.url,
        error=error,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _rewrap(error: FeedError, url: str) -> FeedError:
    """Return the error naming the feed URL, keeping its class and kind."""
    message = error.message if error.url in error.message else f"{error.url}: {error.message}"
    return type(error)(url, message, error.kind)


@functools.lru_cache(maxsize=4096)
def _parsed_url(url: str) -> httpx.URL:
    """Return httpx's parsed URL; parsing it is a tenth of the cost of a 304, so keep it."""
    return httpx.URL(url)


@functools.lru_cache(maxsize=4096)
def _host(url: str) -> str:
    """Return the host a per-host limit is keyed by."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _limited(
    client: httpx.AsyncClient, limits: FetchLimits
) -> Callable[[FetchRequest], Awaitable[FetchResult]]:
    """Return fetch_feed wrapped in a global and a per-host concurrency limit."""
    overall = asyncio.Semaphore(limits.max_concurrency)
    per_host: dict[str, asyncio.Semaphore] = {}

    async def one(request: FetchRequest) -> FetchResult:
        host = per_host.setdefault(_host(request.url), asyncio.Semaphore(limits.max_per_host))
        async with host, overall:
            return await fetch_feed(client, request, limits)

    return one


async def fetch_many(
    client: httpx.AsyncClient, requests: Sequence[FetchRequest], limits: FetchLimits
) -> list[FetchResult]:
    """Fetch many feeds concurrently under a global and a per-host limit; results in order."""
    one = _limited(client, limits)
    return list(await asyncio.gather(*(one(request) for request in requests)))


async def fetch_as_completed(
    client: httpx.AsyncClient, requests: Sequence[FetchRequest], limits: FetchLimits
) -> AsyncIterator[tuple[int, FetchResult]]:
    """Yield `(index, result)` as each feed is fetched, so parsing can start at once.

    Same limits as `fetch_many`. Closing the iterator early cancels the fetches left.
    """
    one = _limited(client, limits)

    async def indexed(index: int, request: FetchRequest) -> tuple[int, FetchResult]:
        return index, await one(request)

    tasks = [asyncio.create_task(indexed(i, request)) for i, request in enumerate(requests)]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
