"""What the text formats share: story order, per-story fields escaped for one platform,
and a greedy packer that splits a digest into messages within a platform's limits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2

from worker.digest.message import JSON_CONTENT_TYPE, Message, RenderOptions
from worker.digest.templating import render_story
from worker.digest.text import human_time, local_time, one_line, trim_words
from worker.models import Digest, DigestStory

T = TypeVar("T")

TITLE_CHARS = 250
SOURCE_CHARS = 80
MAX_ALSO_REPORTED = 5
MAX_MATCHED = 10


@dataclass(frozen=True, slots=True)
class Markup:
    """How one platform escapes text and writes a link and bold text."""

    escape: Callable[[str], str]
    url: Callable[[str], str]
    link: Callable[[str, str], str]
    bold: Callable[[str], str]
    line_break: str = "\n"


@dataclass(frozen=True, slots=True)
class StoryFields:
    """One story's values, trimmed and already escaped for the target platform.

    These are also the variables a custom story template sees.
    """

    id: int
    title: str
    url: str
    link: str
    source: str
    published: str
    published_iso: str
    summary: str
    matched: tuple[str, ...]
    snippets: tuple[str, ...]
    also_reported_by: tuple[tuple[str, str], ...]
    also_reported_links: str
    more_sources: int


def clip(text: str, limit: int) -> str:
    """Text on one line trimmed to `limit` at a word; only a prefix is cleaned, for speed."""
    return trim_words(one_line(text[: limit * 4 + 64]), limit)


def ordered_stories(digest: Digest) -> list[DigestStory]:
    """The digest's stories, newest first (stable for equal times)."""
    return sorted(digest.stories, key=lambda story: story.published, reverse=True)


def _snippet(text: str, markup: Markup) -> str:
    """A hit snippet escaped, with its `**` marks turned into the platform's bold."""
    pieces = one_line(text).split("**")
    out = [
        markup.bold(markup.escape(piece)) if index % 2 and piece else markup.escape(piece)
        for index, piece in enumerate(pieces)
    ]
    return "".join(out)


def story_fields(
    story: DigestStory, tz: str, options: RenderOptions, markup: Markup
) -> StoryFields:
    """The escaped, trimmed fields of one story for one platform."""
    title = markup.escape(clip(story.title, TITLE_CHARS) or "(untitled)")
    url = markup.url(story.url)
    refs = story.also_reported_by[:MAX_ALSO_REPORTED]
    also = tuple(
        (markup.escape(clip(ref.source, SOURCE_CHARS)), markup.url(ref.url)) for ref in refs
    )
    return StoryFields(
        id=story.story_id,
        title=title,
        url=url,
        link=markup.link(title, url),
        source=markup.escape(clip(story.source, SOURCE_CHARS)),
        published=markup.escape(human_time(story.published, tz)),
        published_iso=local_time(story.published, tz).isoformat(),
        summary=markup.escape(clip(story.summary, options.summary_chars)),
        matched=tuple(markup.escape(one_line(term)) for term in story.matched[:MAX_MATCHED]),
        snippets=tuple(_snippet(hit.snippet, markup) for hit in story.hits[:MAX_MATCHED]),
        also_reported_by=also,
        also_reported_links=", ".join(markup.link(name, link) for name, link in also),
        more_sources=len(story.also_reported_by) - len(refs),
    )


def default_story_text(fields: StoryFields, markup: Markup) -> str:
    """The built-in per-story text: linked title, source and time, summary, terms, others."""
    lines = [markup.bold(fields.link), f"{fields.source} · {fields.published}"]
    if fields.summary:
        lines.append(fields.summary)
    if fields.matched:
        lines.append("Matched: " + ", ".join(fields.matched))
    if fields.also_reported_links:
        more = f" and {fields.more_sources} more" if fields.more_sources else ""
        lines.append(f"Also reported by: {fields.also_reported_links}{more}")
    return markup.line_break.join(lines)


def pack(
    items: Iterable[T], cost: Callable[[T], Sequence[int]], limits: Sequence[int]
) -> list[list[T]]:
    """Split items, in order, into groups whose summed costs stay within `limits`.

    Each item must fit on its own; a group is never empty.
    """
    groups: list[list[T]] = []
    current: list[T] = []
    used = [0] * len(limits)
    for item in items:
        need = list(cost(item))
        if current and any(u + n > lim for u, n, lim in zip(used, need, limits, strict=True)):
            groups.append(current)
            current, used = [], [0] * len(limits)
        current.append(item)
        used = [u + n for u, n in zip(used, need, strict=True)]
    if current:
        groups.append(current)
    return groups


def part_label(part: int, parts: int) -> str:
    """` (part 2 of 3)` for a split digest, nothing for a single message."""
    return f" (part {part} of {parts})" if parts > 1 else ""


def headline(digest: Digest, count: int) -> str:
    """The plain headline of a digest, such as `nippon-steel: 3 new stories`."""
    noun = "story" if count == 1 else "stories"
    return f"{one_line(digest.watchlist)}: {count} new {noun}"


def nothing_new(digest: Digest) -> str:
    """The plain text of an empty digest."""
    return f"Nothing new for {one_line(digest.watchlist)}."


def json_messages(payloads: Sequence[dict[str, Any]]) -> list[Message]:
    """UTF-8 JSON messages, numbered in order."""
    return [
        Message(
            body=to_json(payload),
            content_type=JSON_CONTENT_TYPE,
            part=index,
            parts=len(payloads),
        )
        for index, payload in enumerate(payloads, start=1)
    ]


def to_json(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def story_texts(
    digest: Digest,
    options: RenderOptions,
    markup: Markup,
    template: jinja2.Template | None,
    default: Callable[[StoryFields], str],
) -> list[tuple[DigestStory, StoryFields, str]]:
    """Each story, newest first, with its fields and its text (from the template if any)."""
    out = []
    for story in ordered_stories(digest):
        fields = story_fields(story, digest.timezone, options, markup)
        text = render_story(template, fields) if template is not None else default(fields)
        out.append((story, fields, text))
    return out


def nothing_new_detail() -> str:
    """The body text of an empty digest, under its `nothing_new` heading."""
    return "No new stories matched since the last digest."
