"""Parse a feed body (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, CDF) into normalised entries.

`parse_feed` is a module-level function over bytes, so that it can run in a process
pool (it and its results pickle). feedparser only ever gets bytes: given a str it may
treat it as a file name or URL.

What it does, in order:

1. refuse a DTD that could expand entities without bound (kind `hostile_xml`);
2. refuse an HTML page (kind `not_a_feed`, naming the feed links the page advertises);
3. run feedparser with HTML sanitising off (every text field is reduced to plain text
   here, scripts and styles dropped, so feedparser's sanitiser would be wasted work);
4. keep an ill-formed feed that still yields entries (`ParsedFeed.warning` says why);
   refuse one that yields nothing (kind `malformed`).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from worker.errors import FeedError
from worker.fetch.sniff import feed_links, hostile_dtd, looks_like_html
from worker.models import Entry, ParsedFeed
from worker.normalize import collapse_whitespace, html_to_text, normalize_language

MAX_FIELD_CHARS = 20_000


def _text(value: object, detail: object = None) -> str:
    """Return a feedparser text field as plain text, whatever its declared type."""
    if not isinstance(value, str) or not value:
        return ""
    kind = detail.get("type", "") if isinstance(detail, Mapping) else ""
    value = value[:MAX_FIELD_CHARS]
    if "html" in kind or ("<" in value and kind != "text/plain"):
        return html_to_text(value)
    return html_to_text(value) if "&" in value else collapse_whitespace(value)


def _optional(value: object) -> str | None:
    """Return a stripped string, or None when the field is missing or blank."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _date(entry: Mapping[str, Any]) -> datetime | None:
    """Return the entry's published date, else its updated date, as aware UTC."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _language(entry: Mapping[str, Any], feed_language: str | None) -> str | None:
    """Return the entry's own language (xml:lang or dc:language), else the feed's."""
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping):
            language = normalize_language(detail.get("language"))
            if language:
                return language
    return normalize_language(entry.get("language")) or feed_language


def _summary(entry: Mapping[str, Any]) -> str:
    """Return the entry's summary as plain text, falling back to its first content."""
    summary = _text(entry.get("summary"), entry.get("summary_detail"))
    if summary:
        return summary
    contents = entry.get("content")
    if isinstance(contents, list) and contents and isinstance(contents[0], Mapping):
        return _text(contents[0].get("value"), contents[0])
    return ""


def _link(entry: Mapping[str, Any], base_url: str) -> str | None:
    """Return the entry's link made absolute against the feed URL; only http(s) links."""
    link = _optional(entry.get("link"))
    if link is None:
        return None
    absolute = urljoin(base_url, link)
    return absolute if absolute.startswith(("http://", "https://")) else None


def _entry(entry: Mapping[str, Any], base_url: str, feed_language: str | None) -> Entry:
    """Return one normalised entry."""
    author = entry.get("author")
    return Entry(
        guid=_optional(entry.get("id")),
        url=_link(entry, base_url),
        title=_text(entry.get("title"), entry.get("title_detail")),
        summary=_summary(entry),
        author=_text(author)[:500] or None,
        language=_language(entry, feed_language),
        published=_date(entry),
    )


def _ttl(feed: Mapping[str, Any]) -> int | None:
    """Return the RSS `<ttl>` in minutes when it is a sane positive number."""
    try:
        ttl = int(str(feed.get("ttl", "")).strip())
    except ValueError:
        return None
    return ttl if 0 < ttl <= 7 * 24 * 60 else None


def _xml_content_type(content_type: str | None) -> str:
    """Return the media type handed to feedparser: XML, keeping only the HTTP charset.

    Servers label feeds text/html, text/plain or text/xml (which RFC 3023 reads as
    US-ASCII) more often than not; only the charset parameter is worth trusting.
    """
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        charset = value.strip().strip("\"'")
        if name.strip().lower() == "charset" and charset:
            return f"application/xml; charset={charset}"
    return "application/xml"


def _bozo_message(result: Mapping[str, Any]) -> str | None:
    """Return a one-line description of why feedparser flagged the body, if it did."""
    if not result.get("bozo"):
        return None
    error = result.get("bozo_exception")
    message = collapse_whitespace(str(error)) if error is not None else ""
    return (message or "ill-formed feed")[:300]


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 200,
) -> ParsedFeed:
    """Parse a feed body fetched from `url`; raise FeedError when it yields no feed."""
    if not isinstance(body, bytes):
        raise TypeError("parse_feed takes the body as bytes")
    if not body.strip():
        raise FeedError(url, "empty body", kind="malformed")
    reason = hostile_dtd(body)
    if reason:
        raise FeedError(url, f"refused XML: {reason}", kind="hostile_xml")
    if looks_like_html(body):
        links = feed_links(body, url)
        hint = f"; the page advertises {', '.join(links[:3])}" if links else ""
        raise FeedError(url, f"an HTML page, not a feed{hint}", kind="not_a_feed")
    # No content-location: feedparser would turn a bare RSS guid into a URL under the
    # feed's address, so a feed that moves would re-publish every story. Links are
    # resolved against the feed URL here instead.
    headers = {"content-type": _xml_content_type(content_type)}
    result = feedparser.parse(
        body,
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    warning = _bozo_message(result)
    feed = result.get("feed", {})
    raw_entries = result.get("entries", [])
    if warning and not raw_entries:
        raise FeedError(url, warning, kind="malformed")
    if not result.get("version") and not raw_entries:
        raise FeedError(url, "an XML document, but not a feed", kind="not_a_feed")
    feed_language = normalize_language(feed.get("language"))
    return ParsedFeed(
        title=_text(feed.get("title"), feed.get("title_detail")) or None,
        entries=tuple(_entry(entry, url, feed_language) for entry in raw_entries[:max_entries]),
        warning=warning,
        language=feed_language,
        ttl_minutes=_ttl(feed),
    )
