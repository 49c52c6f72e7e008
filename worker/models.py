"""Plain frozen values shared by the pure core.

Each side of a boundary has its own type: the parser yields `Entry`; the matcher reads a
`Document` and answers a `Match`; the digest builder takes `DigestStory` values and makes
a `Digest`. None of these knows about HTTP, SQL or the clock. All datetimes are aware, UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- parsing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One normalised feed entry, as the parser yields it."""

    guid: str | None
    url: str | None
    title: str
    summary: str
    author: str | None = None
    language: str | None = None
    published: datetime | None = None

    def __reduce__(self) -> tuple[type[Entry], tuple[Any, ...]]:
        """Pickle as the arguments of the constructor: half the work of the default for a
        slotted dataclass, on both sides of the parser processes' pipe."""
        return (type(self), (self.guid, self.url, self.title, self.summary, self.author,
                        self.language, self.published))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed body yields: its title, its entries, and a warning if it was ill-formed."""

    title: str | None
    entries: tuple[Entry, ...]
    warning: str | None = None
    language: str | None = None
    ttl_minutes: int | None = None


# --- matching ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """The text a watchlist is matched against."""

    title: str
    summary: str
    language: str | None = None
    feed_url: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One matched term: the term as the query names it, the field, and a snippet.

    The snippet marks the matched words with `**` on each side.
    """

    term: str
    field: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Match:
    """A watchlist matched a document, with the hits that explain why."""

    watchlist: str
    hits: tuple[Hit, ...]

    @property
    def matched(self) -> tuple[str, ...]:
        """Distinct matched terms, in the order first hit."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))


# --- watchlists ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    """A digest destination. `url` and `secret` are secrets: never log them."""

    url: str = field(repr=False)
    format: str = "json"
    secret: str | None = field(default=None, repr=False)
    secrets_previous: tuple[str, ...] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        """A stable, non-secret name for this destination (a hash of its URL)."""
        return "dst_" + hashlib.sha256(self.url.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """A validated watchlist file."""

    name: str
    query: str
    feeds: tuple[str, ...]
    schedule: str
    timezone: str
    webhooks: tuple[Webhook, ...]
    path: str = ""
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: str | None = None
    min_terms: int = 1
    languages: tuple[str, ...] = ()


# --- digests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Another outlet that carried the same story."""

    source: str
    url: str


@dataclass(frozen=True, slots=True)
class DigestStory:
    """One story (one cluster) as a digest lists it."""

    story_id: int
    title: str
    url: str
    source: str
    published: datetime
    summary: str
    matched: tuple[str, ...]
    hits: tuple[Hit, ...] = ()
    also_reported_by: tuple[SourceRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest: the stories queued for one watchlist, newest first."""

    id: str
    watchlist: str
    generated_at: datetime
    timezone: str
    stories: tuple[DigestStory, ...]
    notices: tuple[str, ...] = ()
