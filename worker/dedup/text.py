"""Text normalisation for de-duplication, and the content hash.

`dedup_text(title, body)` gives the text that every later layer compares. Two copies of
one story that differ only in typography, case, spacing or outlet boilerplate give the
same string:

1. the body loses what each outlet adds around a wire story: YAML front matter, a
   dateline with an agency tag (``TOKYO (Reuters) -``, ``(Bloomberg) --``), byline lines
   (``By Jane Doe and John Roe``), ``Reporting by ... Editing by ...`` trailers,
   newsletter prompts (``Sign up for ...``), copyright lines, revision notes such as
   ``(Recasts, updates with ...)`` and lines that hold only a link;
2. the title and the body are joined and folded: Unicode NFKC, `casefold`, apostrophes
   removed inside words (``Japan’s`` and ``Japan's`` give ``japans``), every other run
   of punctuation and whitespace becomes one space.

The title is kept: a feed entry is often little more than its title and summary.
`content_hash` is the SHA-256 hex digest of that normalised text (64 characters).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["content_hash", "dedup_text", "fold", "strip_boilerplate"]

_AGENCIES = (
    r"Reuters|Bloomberg|AP|AFP|Associated Press|dpa|UPI|Kyodo|Yonhap|Xinhua|"
    r"Jiji|Nikkei|CNN|Anadolu|ANI|PTI|IANS|Bernama"
)
_FRONT_MATTER = re.compile(r"\A\s*---\s*\n.*?\n---\s*(\n|\Z)", re.S)
# Anything on the start of a line up to and including "(Agency) -" (dateline, byline).
_DATELINE = re.compile(
    rf"^[^\n(]{{0,200}}?\((?:{_AGENCIES})\)\s*(?:--|-|–|—|:)\s*", re.M | re.IGNORECASE
)
_NAME = r"[A-Z][\w.'’\-]*(?:\s+[A-Z][\w.'’\-]*){0,3}"
_BYLINE = re.compile(
    rf"^[\s|]*(?:By|From)\s+{_NAME}(?:(?:\s*,\s*|\s+and\s+|\s*&\s*){_NAME})*"
    r"(?:\s*[,|]\s*[\w .]{0,40})?[\s|]*$",
    re.M,
)
_RIGHTS_TRAILER = r".*\ball\s+rights\s+reserved\b.*"
_TRAILERS = (
    r"(?:additional\s+)?reporting\s+by\b.*",
    r"(?:writing|editing|compiled|produced)\s+by\b.*",
    r"sign\s+up\s+(?:for|to|here)\b.*",
    r"subscribe\s+(?:to|for|now)\b.*",
    r"(?:click|tap)\s+here\b.*",
    r"(?:read|see)\s+(?:more|also)\s*:.*",
    r"(?:related|advertisement|share\s+this\s+article)\s*:?",
    r"our\s+standards\s*:.*",
    r"(?:©|\(c\)|copyright\b).*",
    _RIGHTS_TRAILER,
    r"\((?:recasts|updates|adds|rewrites|corrects|refiles|changes)\b[^)]*\)",
    r"\[[^\]]*\]\([^)]*\)",
    r"[-–—|*•]+",
)
_TRAILER = re.compile(r"^[\s|]*(?:" + "|".join(_TRAILERS) + r")[\s|]*$", re.M | re.IGNORECASE)
# A text of one line is a trailer when one of these matches it whole; the rights line
# (which may start anywhere in the line) is only tried on a text that holds the word.
_TRAILER_LINE = re.compile(
    r"[\s|]*(?:" + "|".join(t for t in _TRAILERS if t != _RIGHTS_TRAILER) + r")[\s|]*\Z",
    re.IGNORECASE,
)
_RIGHTS_LINE = re.compile(r"[\s|]*(?:" + _RIGHTS_TRAILER + r")[\s|]*\Z", re.IGNORECASE)
_AGENCY_TAG = re.compile(rf"\((?:{_AGENCIES})\)", re.IGNORECASE)
# "Reporting by ...; Editing by ..." glued to the end of the last paragraph.
_INLINE_CREDITS = re.compile(
    r"\(?\s*\b(?:additional\s+)?reporting\s+by\b[^\n]{0,200}?\bediting\s+by\b[^\n]*",
    re.IGNORECASE,
)
_APOSTROPHES = re.compile(r"['’ʼ`´](?<=\w['’ʼ`´])(?=\w)")  # the mark first: a quick scan
_WORD = re.compile(r"[^\W_]+")


def _sub_lines(pattern: re.Pattern[str], text: str) -> str:
    """`pattern.sub("", text)` for a pattern anchored at line starts (``^`` under ``re.M``).

    In a text of one line (every feed summary) it can only match at the start.
    """
    if "\n" in text:
        return pattern.sub("", text)
    found = pattern.match(text)
    return text[found.end() :] if found else text


def strip_boilerplate(body: str) -> str:
    """Remove outlet boilerplate (datelines, bylines, credits, prompts) from `body`.

    A pattern is only run on a text that holds what every one of its matches holds
    (``report``, an agency tag, ``By`` or ``From``, ``reserved``): most texts have none.
    """
    text = unicodedata.normalize("NFKC", body)
    text = _FRONT_MATTER.sub("", text)
    folded = text.casefold()  # IGNORECASE matches no other spelling of these words
    if "report" in folded:
        text = _INLINE_CREDITS.sub("", text)
    if _AGENCY_TAG.search(text):
        text = _sub_lines(_DATELINE, text)
    if "By" in text or "From" in text:
        text = _sub_lines(_BYLINE, text)
    if "\n" in text:
        return _TRAILER.sub("", text)
    if _TRAILER_LINE.match(text) or ("reserved" in folded and _RIGHTS_LINE.match(text)):
        return ""  # the whole line is a trailer
    return text


def fold(text: str) -> str:
    """NFKC, casefold, drop in-word apostrophes, and fold punctuation and spaces to one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii() or "'" in folded or "`" in folded:
        folded = _APOSTROPHES.sub("", folded)
    return " ".join(_WORD.findall(folded))


def dedup_text(title: str, body: str) -> str:
    """The normalised text de-duplication compares: folded title and de-boilerplated body."""
    return fold(f"{title}\n{strip_boilerplate(body)}")


def content_hash(text: str) -> str:
    """The SHA-256 hex digest of `text` (pass the output of `dedup_text`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
