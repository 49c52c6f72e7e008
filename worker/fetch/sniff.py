"""Look at a body before it is parsed: is it an HTML page, and is its DTD hostile?

Both checks read only the start of the body (the prolog), never the whole of it.

How an HTML page is recognised: after an optional byte-order mark, XML declaration,
comments and whitespace, the first markup is `<!DOCTYPE html` or an `<html>` element.
Such a page is not a feed; the feed links it advertises with
`<link rel="alternate" type="application/rss+xml" href=...>` (or Atom, or JSON Feed)
are found and resolved against the page URL (and a `<base href>` if present).

How hostile XML is recognised: feedparser strips the DOCTYPE, keeps only simple internal
entities, and turns off external entities; expat also caps entity amplification. As a
guard in front of that, a prolog whose DTD declares an external general entity (SYSTEM
or PUBLIC), an entity whose value refers to another entity, or more than
`MAX_ENTITY_DECLARATIONS` entities is refused before parsing. External parameter
entities (old RSS 0.91 feeds pull in the HTML entity sets that way) are let through:
feedparser strips them and expat never loads them.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from urllib.parse import urljoin

PROLOG_BYTES = 64 * 1024
MAX_ENTITY_DECLARATIONS = 32
FEED_LINK_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "text/xml",
        "application/xml",
    }
)

_LEADING_JUNK = re.compile(r"\A(?:\s+|<\?xml[^>]*\?>|<!--.*?-->)*", re.DOTALL | re.IGNORECASE)
_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY\s+(%\s*)?([^\s>]+)\s*([^>]*)>", re.IGNORECASE)
_ENTITY_REF = re.compile(r"&[A-Za-z_:][\w.:-]*;|%[A-Za-z_:][\w.:-]*;")


def _decode_prolog(body: bytes) -> str:
    """Decode the start of a body well enough to read its markup."""
    head = body[:PROLOG_BYTES]
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return head.decode(encoding, "ignore")
    if head[:4] == b"<\x00\x00\x00":
        return head.decode("utf-32-le", "ignore")
    if head[:4] == b"\x00\x00\x00<":
        return head.decode("utf-32-be", "ignore")
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", "ignore")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", "ignore")
    return head.decode("latin-1")


def looks_like_html(body: bytes) -> bool:
    """Return True when the body is an HTML page rather than a feed document."""
    text = _decode_prolog(body)
    rest = text[_LEADING_JUNK.match(text).end() :]  # type: ignore[union-attr]
    return _HTML_START.match(rest) is not None


def hostile_dtd(body: bytes) -> str | None:
    """Return why the body's DTD is refused, or None when it is harmless or absent."""
    text = _decode_prolog(body)
    start = re.search(r"<[A-Za-z_]", text)
    prolog = text[: start.start()] if start else text
    if "<!ENTITY" not in prolog.upper():
        return None
    declarations = _ENTITY_DECL.findall(prolog)
    if len(declarations) > MAX_ENTITY_DECLARATIONS:
        return f"DTD declares {len(declarations)} entities"
    for percent, name, value in declarations:
        words = value.split(None, 1)
        if not percent and words and words[0].upper() in {"SYSTEM", "PUBLIC"}:
            return f"DTD declares the external entity {name}"
        if _ENTITY_REF.search(value):
            return f"DTD entity {name} refers to other entities"
    return None


class _LinkFinder(HTMLParser):
    """Collects `<base href>` and alternate feed links of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "") for name, value in attrs}
        href = values.get("href", "").strip()
        if tag == "base" and href and self.base is None:
            self.base = href
        elif tag in {"link", "a"} and href:
            rels = values.get("rel", "").lower().split()
            kind = values.get("type", "").split(";")[0].strip().lower()
            if "alternate" in rels and kind in FEED_LINK_TYPES:
                self.links.append(href)


def feed_links(body: bytes, page_url: str) -> tuple[str, ...]:
    """Return the absolute URLs of the feeds an HTML page advertises, in page order."""
    text = body[: 512 * 1024].decode("utf-8", "replace")
    finder = _LinkFinder()
    finder.feed(text)
    finder.close()
    base = urljoin(page_url, finder.base) if finder.base else page_url
    resolved = (urljoin(base, href) for href in finder.links)
    return tuple(dict.fromkeys(url for url in resolved if url.startswith(("http:", "https:"))))
