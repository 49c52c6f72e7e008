"""Build small RSS 2.0 and Atom documents for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Item:
    """One feed entry."""

    guid: str
    title: str
    link: str
    summary: str
    published: datetime


def rss(title: str, items: list[Item]) -> bytes:
    """An RSS 2.0 document."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{escape(i.guid)}</guid><title>{escape(i.title)}</title>"
        f"<link>{escape(i.link)}</link><description>{escape(i.summary)}</description>"
        f"<pubDate>{format_datetime(i.published)}</pubDate></item>"
        for i in items
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        f"<description>test</description>{body}</channel></rss>"
    ).encode()


def atom(title: str, items: list[Item]) -> bytes:
    """An Atom 1.0 document."""
    body = "".join(
        f"<entry><id>{escape(i.guid)}</id><title>{escape(i.title)}</title>"
        f"<link href='{escape(i.link)}'/><summary>{escape(i.summary)}</summary>"
        f"<updated>{i.published.isoformat()}</updated></entry>"
        for i in items
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>{escape(title)}</title><id>urn:test:{escape(title)}</id>"
        f"<updated>2025-01-01T00:00:00Z</updated>{body}</feed>"
    ).encode()
