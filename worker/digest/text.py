"""Text helpers shared by the formats: times, trimming at word boundaries, escaping.

Every escaper here is for one platform's markup; each neutralises the characters that
could break the message or ping people, and nothing else, so text stays readable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ELLIPSIS = "…"
ZERO_WIDTH_SPACE = "\u200b"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The named timezone, or UTC if the name is unknown (a digest must still render)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def utc_z(moment: datetime) -> str:
    """An aware datetime as an ISO 8601 UTC string ending in `Z` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def local_time(moment: datetime, tz: str) -> datetime:
    """The moment in the named timezone (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(tz))


def human_time(moment: datetime, tz: str) -> str:
    """A short local time for people, such as `2025-02-08 18:00 JST`."""
    local = local_time(moment, tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or tz}"


def one_line(text: str) -> str:
    """Text with control characters dropped and every run of whitespace made one space."""
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


def trim_words(text: str, limit: int) -> str:
    """Text cut to at most `limit` characters at a word boundary, with `…` if cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        space = cut.rfind(" ")
        if space >= (limit - 1) // 2:
            cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def escape_slack(text: str) -> str:
    """Text safe inside Slack mrkdwn: only `&`, `<` and `>` are escaped, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_url(url: str) -> str:
    """A URL safe inside a Slack `<url|label>` link."""
    return escape_slack(url).replace("|", "%7C")


_INLINE_MARKDOWN = re.compile(r"([\\*_`~|\[\]])")
_LINE_START_MARKDOWN = re.compile(r"^(\s*)([#>+-]|\d+[.)])")


def defuse_mentions(text: str) -> str:
    """Text with a zero-width space after every `@`, so no mention can fire."""
    return text.replace("@", "@" + ZERO_WIDTH_SPACE)


def escape_markdown(text: str) -> str:
    """Text with inline markdown escaped by backslashes, and line-start markers too.

    Escapes emphasis, code, strikethrough, spoiler and link brackets anywhere, and a
    leading heading, quote, list or numbered-list marker, so a title cannot restyle a
    message or smuggle in a link.
    """
    text = _INLINE_MARKDOWN.sub(r"\\\1", text)
    return _LINE_START_MARKDOWN.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def escape_discord(text: str) -> str:
    """Text safe in Discord markdown: markup escaped, mentions and `<...>` tags defused."""
    return defuse_mentions(escape_markdown(text).replace("<", "<" + ZERO_WIDTH_SPACE))


def discord_url(url: str) -> str:
    """A URL safe inside a Discord `[label](url)` link."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace(">", "%3E")


def escape_teams(text: str) -> str:
    """Text safe in an Adaptive Card TextBlock: markdown escaped, `<at>` and `@` defused."""
    return defuse_mentions(escape_markdown(text).replace("<", "<" + ZERO_WIDTH_SPACE))


def teams_url(url: str) -> str:
    """A URL safe inside a Teams markdown `[label](url)` link."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def text_length(text: str) -> int:
    """Length in UTF-16 code units: never less than what the platforms count."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_PARTIAL_TAIL = re.compile(r"(&[A-Za-z#0-9]*|<[^<>]*|\[[^\[\]]*(\]\([^()]*)?|\\)$")


def fit_markup(text: str, limit: int) -> str:
    """Markup cut to at most `limit` UTF-16 units, at a word boundary, never mid-entity.

    A cut that would leave half a Slack link (`<url|...`), half an HTML entity or a
    lone escaping backslash drops that tail too, so the message still parses.
    """
    if text_length(text) <= limit:
        return text
    budget = limit
    while budget > 0:
        cut = trim_words(text, budget)
        body = cut.removesuffix(ELLIPSIS)
        while (trimmed := _PARTIAL_TAIL.sub("", body).rstrip()) != body:
            body = trimmed
        candidate = body + ELLIPSIS if body else ELLIPSIS
        if text_length(candidate) <= limit:
            return candidate
        budget -= max(1, text_length(candidate) - limit)
    return ""
