"""Every feed of feedparser's own test corpus goes through fetch and parse without harm."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.errors import FeedError
from worker.fetch.client import FetchConfig, FetchLimits, build_client
from worker.fetch.guard import AddressPolicy
from worker.fetch.http import FetchRequest, FetchResult, fetch_many
from worker.models import ParsedFeed
from worker.parse import parse_feed

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in {".xml", ".json"})


SERVER = """
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass

httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=sys.argv[1]))
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


@pytest.fixture(scope="module")
def corpus_url() -> Iterator[str]:
    """The base URL of a local server, in its own process, serving the corpus folder."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(CORPUS)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def fetch_all(base: str) -> list[FetchResult]:
    """Fetch every corpus file through one shared client, concurrently."""
    config = FetchConfig(
        read_timeout_seconds=10,
        limits=FetchLimits(
            policy=AddressPolicy.allowing("127.0.0.1/32"), max_concurrency=16, max_per_host=16
        ),
    )

    async def go() -> list[FetchResult]:
        async with build_client(config) as client:
            requests = [FetchRequest(base + p.relative_to(CORPUS).as_posix()) for p in FILES]
            return await fetch_many(client, requests, config.limits)

    return asyncio.run(go())


def test_corpus_is_complete() -> None:
    """The copied corpus holds all 2,107 feeds, its licence and its provenance notes."""
    assert len(FILES) == 2107
    assert (CORPUS / "LICENSE").is_file() and (CORPUS / "SOURCES.md").is_file()


def test_every_corpus_feed_gives_a_feed_or_a_feed_error(corpus_url: str) -> None:
    """Each corpus file is fetched and then parsed to a ParsedFeed or a FeedError, no crash."""
    results = fetch_all(corpus_url)
    outcomes: Counter[str] = Counter()
    for path, result in zip(FILES, results, strict=True):
        assert result.error is None, f"{path}: {result.error}"
        assert result.body is not None and result.body == path.read_bytes()
        try:
            feed = parse_feed(result.body, url=result.url, content_type=result.content_type)
        except FeedError as error:
            outcomes[error.kind] += 1
        else:
            assert isinstance(feed, ParsedFeed)
            assert all(entry.published is None or entry.published.tzinfo for entry in feed.entries)
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 1800
