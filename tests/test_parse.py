"""Feed bodies become normalised entries; bodies that are not feeds become FeedErrors."""

from __future__ import annotations

import dataclasses
import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.dedup.fingerprint import Fingerprint
from worker.errors import FeedError
from worker.ingest import Prepared
from worker.models import Entry, ParsedFeed
from worker.parse import parse_feed

FEEDS = Path(__file__).parent / "feeds"
GOLDEN = sorted(path.stem.removesuffix(".expected") for path in FEEDS.glob("*.expected.json"))


def as_json(feed: ParsedFeed) -> dict[str, Any]:
    """Return a parsed feed in the shape of a golden file."""

    def date(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "title": feed.title,
        "language": feed.language,
        "ttl_minutes": feed.ttl_minutes,
        "warning": feed.warning,
        "entries": [
            {
                "guid": entry.guid,
                "url": entry.url,
                "title": entry.title,
                "summary": entry.summary,
                "author": entry.author,
                "language": entry.language,
                "published": date(entry.published),
            }
            for entry in feed.entries
        ],
    }


def parse_file(name: str, **kwargs: Any) -> ParsedFeed:
    """Parse one file of tests/feeds as if fetched from a news site."""
    body = (FEEDS / name).read_bytes()
    return parse_feed(body, url="https://news.example/section/feed", **kwargs)


def test_golden_files_cover_every_required_format() -> None:
    """The golden set covers RSS 2.0, Atom, RSS 1.0, ill-formed, non-UTF-8 and empty feeds."""
    assert {"rss2", "atom", "rss1", "illformed", "latin1", "empty"} <= set(GOLDEN)


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_feed_yields_expected_stories(name: str) -> None:
    """Each golden feed parses to exactly the stories written next to it."""
    expected = json.loads((FEEDS / f"{name}.expected.json").read_text("utf-8"))
    assert as_json(parse_file(f"{name}.xml")) == expected


def test_published_dates_are_aware_utc() -> None:
    """Dates with any offset come back as aware datetimes in UTC."""
    entry = parse_file("rss2.xml").entries[0]
    assert entry.published is not None
    assert entry.published.utcoffset() is not None
    assert entry.published.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_max_entries_caps_the_entries_kept() -> None:
    """Only the first `max_entries` entries of a feed are kept."""
    feed = parse_file("rss2.xml", max_entries=1)
    assert [entry.guid for entry in feed.entries] == ["gazette-1001"]


def test_relative_links_resolve_against_the_feed_url() -> None:
    """A relative entry link is made absolute against the URL the feed came from."""
    body = (FEEDS / "latin1.xml").read_bytes().replace(b"https://cafe.example/1", b"../story/1")
    entry = parse_feed(body, url="https://cafe.example/feeds/main.xml").entries[0]
    assert entry.url == "https://cafe.example/story/1"
    assert entry.guid == "cafe-1"


def test_http_charset_overrides_the_xml_declaration() -> None:
    """A charset in the Content-Type header decides how the body is decoded."""
    body = "<rss version='2.0'><channel><title>Ça</title><item><title>é</title></item>"
    body += "</channel></rss>"
    feed = parse_feed(
        body.encode("cp1252"), url="https://x.example/", content_type="text/xml; charset=cp1252"
    )
    assert feed.title == "Ça"
    assert feed.entries[0].title == "é"


def test_html_page_is_not_a_feed_and_names_the_advertised_feeds() -> None:
    """An HTML page fails as not_a_feed, naming its alternate feed links made absolute."""
    with pytest.raises(FeedError) as caught:
        parse_file("page.html", content_type="text/html")
    assert caught.value.kind == "not_a_feed"
    assert "https://news.example/section/feed.xml" in caught.value.message
    assert "https://news.example/atom" in caught.value.message


def test_html_page_without_feed_links_is_not_a_feed() -> None:
    """An HTML page without alternate links still fails as not_a_feed."""
    with pytest.raises(FeedError) as caught:
        parse_feed(b"<html><body>hi</body></html>", url="https://x.example/")
    assert caught.value.kind == "not_a_feed"


def test_garbage_without_entries_is_malformed() -> None:
    """A body feedparser cannot make sense of and with no entries fails as malformed."""
    with pytest.raises(FeedError) as caught:
        parse_feed(b"<rss><channel><item", url="https://x.example/")
    assert caught.value.kind == "malformed"
    assert caught.value.url == "https://x.example/"


def test_empty_body_is_malformed() -> None:
    """An empty body fails as malformed rather than as an empty feed."""
    with pytest.raises(FeedError) as caught:
        parse_feed(b"  \n", url="https://x.example/")
    assert caught.value.kind == "malformed"


def test_entity_expansion_is_refused_before_parsing() -> None:
    """A billion-laughs DTD fails as hostile_xml without being expanded."""
    with pytest.raises(FeedError) as caught:
        parse_file("hostile.xml")
    assert caught.value.kind == "hostile_xml"


def test_external_entity_is_refused() -> None:
    """A DTD that declares an external entity (a local file) fails as hostile_xml."""
    with pytest.raises(FeedError) as caught:
        parse_file("external.xml")
    assert caught.value.kind == "hostile_xml"
    assert "secret" in caught.value.message


def test_simple_internal_entity_is_allowed() -> None:
    """A DTD with a plain internal entity still parses."""
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY name "Harbour">]>'
        b'<rss version="2.0"><channel><title>&name; news</title>'
        b"<item><title>one</title></item></channel></rss>"
    )
    feed = parse_feed(body, url="https://x.example/")
    assert feed.title == "Harbour news"


def test_str_body_is_refused() -> None:
    """parse_feed takes bytes only, so a string is never read as a path or URL."""
    with pytest.raises(TypeError):
        parse_feed("/etc/passwd", url="https://x.example/")  # type: ignore[arg-type]


def test_results_and_errors_survive_a_process_boundary() -> None:
    """A parsed feed and a FeedError both pickle, so parsing can run in a process pool."""
    feed = parse_file("atom.xml")
    assert pickle.loads(pickle.dumps(feed)) == feed
    with pytest.raises(FeedError) as caught:
        parse_file("page.html")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.url, copy.kind, copy.message) == (
        caught.value.url,
        caught.value.kind,
        caught.value.message,
    )


@pytest.mark.parametrize(
    "value",
    [
        Entry("g", "https://x.example/1", "T", "S", "A", "en", datetime(2026, 1, 2, tzinfo=UTC)),
        Fingerprint("t", "h", frozenset({1, -2})),
        Prepared(
            "k",
            Entry(
                "g", "https://x.example/1", "T", "S", "A", "en", datetime(2026, 1, 2, tzinfo=UTC)
            ),
            "https://x.example/1",
            Fingerprint("t", "h", frozenset({1, -2})),
        ),
    ],
)
def test_what_a_parser_process_sends_back_keeps_every_field(value: Any) -> None:
    """An entry, a fingerprint and a prepared entry pickle with every field they have (they
    pickle as their constructor's arguments, so a new field must be added there too)."""
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value
    for field in dataclasses.fields(value):
        assert getattr(copy, field.name) == getattr(value, field.name) is not None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_feed_or_a_feed_error(body: bytes) -> None:
    """Whatever the bytes, parse_feed returns a ParsedFeed or raises FeedError, nothing else."""
    try:
        result = parse_feed(body, url="https://x.example/")
    except FeedError as error:
        assert error.kind in {"malformed", "not_a_feed", "hostile_xml"}
    else:
        assert isinstance(result, ParsedFeed)


def test_parse_runs_in_a_process_pool() -> None:
    """parse_feed runs in a worker process and its result comes back whole."""
    body = (FEEDS / "rss2.xml").read_bytes()
    with ProcessPoolExecutor(1) as pool:
        feed = pool.submit(partial(parse_feed, body, url="https://news.example/feed")).result()
    assert feed == parse_feed(body, url="https://news.example/feed")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=60), st.text(max_size=200)), max_size=8))
def test_any_item_text_round_trips_as_plain_text(items: list[tuple[str, str]]) -> None:
    """Whatever text the items carry, every item comes back, titles single-spaced."""
    xml_safe = [
        ("".join(c for c in title if c.isprintable()), "".join(c for c in text if c.isprintable()))
        for title, text in items
    ]
    body = "".join(
        f"<item><title>{escape(title)}</title><description>{escape(text)}</description>"
        f"<guid>g{i}</guid></item>"
        for i, (title, text) in enumerate(xml_safe)
    )
    rss = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    feed = parse_feed(f"{rss}{body}</channel></rss>".encode(), url="https://x.example/")
    assert [entry.guid for entry in feed.entries] == [f"g{i}" for i in range(len(items))]
    for entry in feed.entries:
        assert entry.title == " ".join(entry.title.split())
