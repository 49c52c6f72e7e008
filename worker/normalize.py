"""Turn the HTML and loose strings found in feeds into plain, single-spaced text.

Feeds put HTML almost everywhere (summaries, often titles). The matcher and the digest
want plain text: no tags, no script or style bodies, entities decoded, and whitespace
collapsed to single spaces. These functions are pure and never raise on odd input.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

# Elements whose content is never shown to a reader.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head", "title"})

# Elements that separate words visually; a space stands in for each of them.
_BREAKING = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr",
        "ul", "img",
    }
)  # fmt: skip


# A start or end tag whose attributes hold no angle bracket: nearly all the markup in feed
# summaries. `_plain_html_to_text` reads a fragment made only of these and text; it gives
# what `_TextCollector` gives, without a parser object and a call per tag.
# Only ASCII spaces: html.parser ends a tag name at no other (`<br\xa0>` is no `br`).
_SPACE = r"[ \t\n\r\f]"
_ATTRIBUTE = (
    rf"""{_SPACE}+[a-zA-Z_:][-a-zA-Z0-9_:.]*"""
    rf"""(?:{_SPACE}*={_SPACE}*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'=<>`]+))?"""
)
_PLAIN_TAG = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:{_ATTRIBUTE})*{_SPACE}*/?>")


class _TextCollector(HTMLParser):
    """Collects the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(data)


def collapse_whitespace(text: str) -> str:
    """Return `text` with every run of whitespace turned into one space, trimmed."""
    return " ".join(text.split())


def _plain_html_to_text(html: str) -> str | None:
    """The visible text of a fragment of text and plain tags; None for any other markup."""
    pieces = _PLAIN_TAG.split(html)  # text, "/" or "", tag name, text, ...
    texts, names = pieces[0::3], pieces[2::3]
    if any("<" in text for text in texts):
        return None  # a comment, a declaration, an odd tag: for the full parser
    parts = [unescape(texts[0]) if "&" in texts[0] else texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        name = name.lower()
        if name in _HIDDEN:
            return None
        if name in _BREAKING:
            parts.append(" ")
        parts.append(unescape(text) if "&" in text else text)
    return collapse_whitespace("".join(parts))


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML fragment, entities decoded and spaces collapsed."""
    if "<" not in html and "&" not in html:
        return collapse_whitespace(html)
    plain = _plain_html_to_text(html)
    if plain is not None:
        return plain
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        return collapse_whitespace(html)
    return collapse_whitespace("".join(collector.parts))


def normalize_language(value: object) -> str | None:
    """Return a language tag in lower case with `_` as `-` (`en_US` -> `en-us`), or None."""
    if not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-").lower()
    return tag or None
