"""Fetching feeds from a real local HTTP server: validators, redirects, limits, refusals."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from worker.errors import FeedError, FetchRefused
from worker.fetch.client import FetchConfig, FetchLimits, build_client
from worker.fetch.guard import AddressPolicy
from worker.fetch.http import (
    FetchRequest,
    FetchResult,
    body_hash,
    fetch_as_completed,
    fetch_feed,
    fetch_many,
)
from worker.parse import parse_feed

FEED = (Path(__file__).parent / "feeds" / "rss2.xml").read_bytes()
T = TypeVar("T")


class Handler(BaseHTTPRequestHandler):
    """Answers each path with the route the test registered for it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: Server

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers.items())))
        route = self.server.routes.get(self.path)
        if route is None:
            self.reply(404, b"no such route")
        else:
            route(self)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Send a complete response."""
        headers = headers or {}
        self.send_response_only(status)
        if "Date" not in headers:
            self.send_header("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class Server(ThreadingHTTPServer):
    """A threaded server with a route table tests fill in."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Callable[[Handler], None]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Return the absolute URL of a path on this server."""
        return f"http://{host}:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A local HTTP server running in a thread for the whole module."""
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


LOCAL = AddressPolicy.allowing("127.0.0.1/32")


def config(policy: AddressPolicy = LOCAL, **limits: Any) -> FetchConfig:
    """A client configuration with small timeouts that allows the test server."""
    return FetchConfig(
        connect_timeout_seconds=1.0,
        read_timeout_seconds=0.3,
        limits=FetchLimits(policy=policy, **limits),
    )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion."""
    return asyncio.run(coroutine)


def fetch(request: FetchRequest | str, cfg: FetchConfig | None = None, **kw: Any) -> FetchResult:
    """Fetch one request with a fresh client built from the configuration."""
    cfg = cfg or config()
    req = FetchRequest(request) if isinstance(request, str) else request

    async def go() -> FetchResult:
        async with build_client(cfg, **kw) as client:
            return await fetch_feed(client, req, cfg.limits)

    return run(go())


def serve(server: Server, path: str, status: int = 200, body: bytes = FEED, **headers: str) -> str:
    """Register a fixed response for a path and return its URL."""
    names = {key.replace("_", "-"): value for key, value in headers.items()}
    server.routes[path] = lambda handler: handler.reply(status, body, names)
    return server.url(path)


def test_feed_body_is_fetched_with_validators_and_hash(server: Server) -> None:
    """A 200 gives the body, its hash, its validators and its content type."""
    url = serve(server, "/ok", ETag='"v1"', Last_Modified="Tue, 14 May 2024 09:00:00 GMT")
    result = fetch(url)
    assert result.ok and result.status == 200 and result.body == FEED
    assert result.body_hash == body_hash(FEED)
    assert (result.etag, result.last_modified) == ('"v1"', "Tue, 14 May 2024 09:00:00 GMT")
    assert len(parse_feed(result.body, url=result.url).entries) == 2


def test_requests_identify_the_worker(server: Server) -> None:
    """Every request carries the wirewatch User-Agent and asks only for gzip or deflate."""
    url = serve(server, "/ua")
    fetch(url)
    headers = next(h for path, h in reversed(server.seen) if path == "/ua")
    assert headers["User-Agent"].startswith("wirewatch/")
    assert "(+https://" in headers["User-Agent"]
    assert headers["Accept-Encoding"] == "gzip, deflate"


def test_validators_are_sent_and_304_is_not_modified(server: Server) -> None:
    """Stored validators are sent back, and a 304 is reported as not modified."""

    def conditional(handler: Handler) -> None:
        if handler.headers.get("If-None-Match") == '"v1"':
            handler.reply(304)
        else:
            handler.reply(200, FEED, {"ETag": '"v1"'})

    server.routes["/cond"] = conditional
    request = FetchRequest(server.url("/cond"), etag='"v1"', last_body_hash="abc")
    result = fetch(request)
    assert result.ok and result.not_modified and result.status == 304
    assert result.body is None and result.etag == '"v1"' and result.body_hash == "abc"
    assert server.seen[-1][1]["If-None-Match"] == '"v1"'


def test_same_body_without_validators_is_unchanged(server: Server) -> None:
    """A 200 whose body hashes as last time is reported unchanged, with no body to parse."""
    url = serve(server, "/same")
    result = fetch(FetchRequest(url, last_body_hash=body_hash(FEED)))
    assert result.ok and result.unchanged and result.body is None


def test_retry_after_seconds_on_429(server: Server) -> None:
    """A 429 with Retry-After in seconds reports that delay and an http_4xx error."""
    result = fetch(serve(server, "/429", status=429, Retry_After="120"))
    assert result.error is not None and result.error.kind == "http_4xx"
    assert result.retry_after_seconds == 120


def test_retry_after_http_date_on_503(server: Server) -> None:
    """A 503 with Retry-After as an HTTP date reports the delay from the server's Date."""
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    later = now + timedelta(minutes=10)
    url = serve(
        server,
        "/503",
        status=503,
        Retry_After=format_datetime(later, usegmt=True),
        Date=format_datetime(now, usegmt=True),
    )
    result = fetch(url)
    assert result.error is not None and result.error.kind == "http_5xx"
    assert result.retry_after_seconds == 600


def test_cache_control_max_age_gives_a_floor(server: Server) -> None:
    """Cache-Control max-age is reported as the cache floor in seconds."""
    result = fetch(serve(server, "/cached", Cache_Control="public, max-age=900"))
    assert result.cache_floor_seconds == 900


def test_gone_is_reported(server: Server) -> None:
    """A 410 is reported with kind gone, so the caller can disable the feed."""
    result = fetch(serve(server, "/gone", status=410))
    assert result.error is not None and result.error.kind == "gone"


def test_not_found_is_http_4xx(server: Server) -> None:
    """A 404 is reported with kind http_4xx and the feed URL."""
    url = server.url("/missing")
    result = fetch(url)
    assert result.error is not None and result.error.kind == "http_4xx"
    assert result.error.url == url


def redirect(server: Server, path: str, status: int, to: str) -> str:
    """Register a redirect and return its URL."""
    return serve(server, path, status=status, body=b"", Location=to)


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_chain_reports_the_new_url(server: Server, status: int) -> None:
    """A chain of only permanent redirects reports its final URL as the feed's new address."""
    final = serve(server, f"/moved-final-{status}")
    second = redirect(server, f"/moved-2-{status}", status, final)
    first = redirect(server, f"/moved-1-{status}", status, second)
    result = fetch(first)
    assert result.ok and result.url == final
    assert result.permanent_redirect_to == final


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_keeps_the_url(server: Server, status: int) -> None:
    """A temporary redirect is followed but never changes the feed's address."""
    final = serve(server, f"/temp-final-{status}")
    result = fetch(redirect(server, f"/temp-{status}", status, final))
    assert result.ok and result.body == FEED
    assert result.permanent_redirect_to is None


def test_mixed_redirect_chain_keeps_the_url(server: Server) -> None:
    """A chain mixing 301 and 307 does not change the feed's address."""
    final = serve(server, "/mixed-final")
    middle = redirect(server, "/mixed-2", 307, final)
    result = fetch(redirect(server, "/mixed-1", 301, middle))
    assert result.ok and result.permanent_redirect_to is None


def test_redirect_to_a_relative_location(server: Server) -> None:
    """A relative Location is resolved against the redirecting URL."""
    serve(server, "/rel/target")
    result = fetch(redirect(server, "/rel/start", 301, "target"))
    assert result.ok and result.url == server.url("/rel/target")


def test_redirect_loop_stops(server: Server) -> None:
    """A redirect loop ends with too_many_redirects."""
    redirect(server, "/loop-a", 302, "/loop-b")
    redirect(server, "/loop-b", 302, "/loop-a")
    result = fetch(server.url("/loop-a"), config(max_redirects=3))
    assert result.error is not None and result.error.kind == "too_many_redirects"


def test_slow_server_times_out(server: Server) -> None:
    """A server slower than the read timeout gives a timeout error, not a hang."""

    def slow(handler: Handler) -> None:
        time.sleep(1.0)
        handler.reply(200, FEED)

    server.routes["/slow"] = slow
    result = fetch(server.url("/slow"))
    assert result.error is not None and result.error.kind == "timeout"
    assert result.elapsed_ms < 1000


def test_trickling_server_hits_the_total_deadline(server: Server) -> None:
    """A server that trickles bytes under the read timeout is cut off by the deadline."""

    def trickle(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    server.routes["/trickle"] = trickle
    result = fetch(server.url("/trickle"), config(total_timeout_seconds=0.5))
    assert result.error is not None and result.error.kind == "timeout"


def test_oversized_body_is_too_large(server: Server) -> None:
    """A body past the cap gives too_large."""
    result = fetch(serve(server, "/big", body=b"x" * 50_000), config(max_bytes=10_000))
    assert result.error is not None and result.error.kind == "too_large"


def test_gzip_body_is_inflated(server: Server) -> None:
    """A gzip-encoded feed is inflated to the original bytes."""
    url = serve(server, "/gz", body=gzip.compress(FEED), Content_Encoding="gzip")
    result = fetch(url)
    assert result.ok and result.body == FEED


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_body_is_inflated(server: Server, wbits: int) -> None:
    """A deflate-encoded feed, zlib-wrapped or raw, is inflated to the original bytes."""
    compressor = zlib.compressobj(wbits=wbits)
    body = compressor.compress(FEED) + compressor.flush()
    result = fetch(serve(server, f"/deflate{wbits}", body=body, Content_Encoding="deflate"))
    assert result.ok and result.body == FEED


def gzip_of_zeros(megabytes: int) -> bytes:
    """Return gzip of many MiB of zeros, compressed piece by piece."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(megabytes)]
    return b"".join([*parts, compressor.flush()])


def test_gzip_bomb_stops_at_the_cap_in_small_memory(server: Server) -> None:
    """Gzip of 100 MiB of zeros stops at the cap with too_large, never inflating it all."""
    url = serve(server, "/bomb", body=gzip_of_zeros(100), Content_Encoding="gzip")
    cfg = config(max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        result = fetch(url, cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error is not None and result.error.kind == "too_large"
    assert peak < 8 * 1024 * 1024


def test_broken_gzip_is_malformed(server: Server) -> None:
    """A body that claims gzip but is not gives a malformed error."""
    result = fetch(serve(server, "/badgz", body=b"not gzip at all", Content_Encoding="gzip"))
    assert result.error is not None and result.error.kind == "malformed"


def test_loopback_is_refused_by_default(server: Server) -> None:
    """Without an allowance, a feed on 127.0.0.1 is refused before any request is sent."""
    before = len(server.seen)
    result = fetch(serve(server, "/local"), config(policy=AddressPolicy()))
    assert isinstance(result.error, FetchRefused) and result.error.kind == "refused"
    assert len(server.seen) == before


def test_redirect_to_another_loopback_address_is_refused(server: Server) -> None:
    """A redirect from an allowed host to 127.0.0.2 is refused."""
    target = server.url("/inner", host="127.0.0.2")
    result = fetch(redirect(server, "/escape", 302, target))
    assert result.error is not None and result.error.kind == "refused"
    assert "127.0.0.2" in result.error.message


def test_redirect_to_a_file_url_is_refused(server: Server) -> None:
    """A redirect to a non-HTTP scheme is refused."""
    result = fetch(redirect(server, "/file", 301, "file:///etc/passwd"))
    assert result.error is not None and result.error.kind == "refused"


def test_localhost_name_is_refused(server: Server) -> None:
    """The name localhost is refused even when the server is running there."""
    url = serve(server, "/byname").replace("127.0.0.1", "localhost")
    result = fetch(url, config(policy=AddressPolicy()))
    assert result.error is not None and result.error.kind == "refused"


def test_name_resolving_to_a_private_address_is_refused(server: Server) -> None:
    """A host name whose address is loopback is refused after resolution, before connecting."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    before = len(server.seen)
    url = serve(server, "/rebind").replace("127.0.0.1", "feeds.example.net")
    result = fetch(url, config(policy=AddressPolicy()), resolver=resolver)
    assert result.error is not None and result.error.kind == "refused"
    assert "127.0.0.1" in result.error.message
    assert len(server.seen) == before


def test_allowed_name_connects_to_the_resolved_address(server: Server) -> None:
    """An allowed host name is fetched from the address the resolver gave, with its Host."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    url = serve(server, "/named").replace("127.0.0.1", "feeds.example.net")
    policy = AddressPolicy.allowing("feeds.example.net")
    result = fetch(url, config(policy=policy), resolver=resolver)
    assert result.ok and result.body == FEED
    assert server.seen[-1][1]["Host"].startswith("feeds.example.net")


def test_unreachable_port_is_a_connect_error(server: Server) -> None:
    """A closed port gives a connect error value, not an exception."""
    result = fetch("http://127.0.0.1:1/feed")
    assert result.error is not None and result.error.kind == "connect"


def test_proxy_variables_are_ignored(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY in the environment does not send feed requests through a proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    result = fetch(serve(server, "/noproxy"))
    assert result.ok


def test_fetch_many_keeps_order_and_limits_each_host(server: Server) -> None:
    """fetch_many returns results in request order and never runs more per host than allowed."""
    active = 0
    most = 0
    lock = threading.Lock()

    def counted(handler: Handler) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        handler.reply(200, handler.path.encode())

    paths = [f"/many/{i}" for i in range(12)]
    for path in paths:
        server.routes[path] = counted
    cfg = config(max_per_host=2, max_concurrency=10)

    async def go() -> list[FetchResult]:
        async with build_client(cfg) as client:
            requests = [FetchRequest(server.url(path)) for path in paths]
            return await fetch_many(client, requests, cfg.limits)

    results = run(go())
    assert [r.body for r in results] == [p.encode() for p in paths]
    assert most <= 2


def test_client_does_not_follow_redirects_itself() -> None:
    """The shared client leaves redirects to fetch_feed and ignores the environment."""
    client = build_client(FetchConfig())
    try:
        assert client.follow_redirects is False
        assert client.trust_env is False
    finally:
        run(client.aclose())


def test_unsupported_scheme_is_refused() -> None:
    """A feed URL with a scheme other than http or https is refused."""
    result = fetch("ftp://example.com/feed.xml")
    assert result.error is not None and result.error.kind == "refused"


@pytest.mark.parametrize("url", ["http://ex\x00ample.com/feed", "http://xn--/feed"])
def test_unsendable_url_is_an_error_value(url: str) -> None:
    """A URL with control characters or a bad IDNA label gives invalid_url, not an exception."""
    result = fetch(url, config(policy=AddressPolicy()))
    assert result.error is not None and result.error.kind == "invalid_url"


def test_fetch_as_completed_yields_fast_feeds_first(server: Server) -> None:
    """Results arrive as each feed completes, so a slow feed does not hold back the rest."""

    def slow(handler: Handler) -> None:
        time.sleep(0.25)
        handler.reply(200, b"slow")

    server.routes["/order/slow"] = slow
    fast = [serve(server, f"/order/fast{i}", body=b"fast") for i in range(3)]
    requests = [FetchRequest(server.url("/order/slow")), *map(FetchRequest, fast)]
    cfg = FetchConfig(read_timeout_seconds=2, limits=FetchLimits(policy=LOCAL))

    async def go() -> list[tuple[int, FetchResult]]:
        async with build_client(cfg) as client:
            return [item async for item in fetch_as_completed(client, requests, cfg.limits)]

    order = run(go())
    assert sorted(index for index, _ in order) == [0, 1, 2, 3]
    assert order[-1][0] == 0 and order[-1][1].body == b"slow"


def fetch_and_parse(server: Server, path: str, name: str, content_type: str) -> FeedError:
    """Serve a file of tests/feeds, fetch and parse it, and return the parse error."""
    body = (Path(__file__).parent / "feeds" / name).read_bytes()
    result = fetch(serve(server, path, body=body, Content_Type=content_type))
    assert result.ok and result.body is not None
    with pytest.raises(FeedError) as caught:
        parse_feed(result.body, url=result.url, content_type=result.content_type)
    return caught.value


def test_served_entity_bomb_is_refused_as_hostile(server: Server) -> None:
    """A billion-laughs feed served over HTTP is refused as hostile_xml, unexpanded."""
    tracemalloc.start()
    try:
        error = fetch_and_parse(server, "/lol.xml", "hostile.xml", "application/rss+xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "hostile_xml"
    assert peak < 16 * 1024 * 1024


def test_served_html_page_names_its_feed(server: Server) -> None:
    """An HTML page served where a feed was expected names the feed it advertises."""
    error = fetch_and_parse(server, "/section/", "page.html", "text/html; charset=utf-8")
    assert error.kind == "not_a_feed"
    assert "https://news.example/section/feed.xml" in error.message


def test_clients_share_the_tls_settings_and_keep_verification_choice() -> None:
    """Every client of the process reuses one TLS context (certificates loaded once);
    turning verification off gives a context that does not check certificates."""
    first, second = build_client(FetchConfig()), build_client(FetchConfig())
    unverified = build_client(FetchConfig(verify_tls=False))
    try:
        contexts = [c._transport._ssl for c in (first, second, unverified)]  # type: ignore[attr-defined]
        assert contexts[0] is contexts[1]
        assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
        assert contexts[2].verify_mode == ssl.CERT_NONE
    finally:
        for client in (first, second, unverified):
            run(client.aclose())
