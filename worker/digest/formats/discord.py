"""Discord webhook messages with one embed per story.

Limits kept per message: `content` at most 2,000 characters, at most 10 embeds, embed
title at most 256 and description at most 4,096 characters, and 6,000 characters across
all embeds. Every message sets `allowed_mentions: {"parse": []}` so nothing pings, and
text also gets a zero-width space after each `@` and `<` and its markdown escaped, so a
story title can neither mention anyone nor restyle the message.
"""

from __future__ import annotations

import re
from typing import Any

from worker.digest.layout import (
    Markup,
    StoryFields,
    headline,
    json_messages,
    nothing_new,
    pack,
    part_label,
    story_texts,
)
from worker.digest.message import Message, RenderOptions
from worker.digest.templating import story_template
from worker.digest.text import discord_url, escape_discord, fit_markup, text_length, utc_z
from worker.models import Digest

CONTENT_CHARS = 2000
MAX_EMBEDS = 10
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
EMBEDS_TOTAL_CHARS = 6000
URL_CHARS = 2000
NOTICE_CHARS = 300
EMBED_COLOUR = 0x2B6CB0

MARKUP = Markup(
    escape=escape_discord,
    url=discord_url,
    link=lambda label, url: f"[{label}]({url})",
    bold=lambda text: f"**{text}**",
)

_WEB_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


def _embed_url(url: str) -> str | None:
    """The URL if Discord will accept it as an embed link (a bad one fails the message)."""
    return url if len(url) <= URL_CHARS and _WEB_URL.fullmatch(url) else None


def default_description(fields: StoryFields) -> str:
    """The built-in embed description: the title is the embed's own title and link."""
    lines = [f"{fields.source} · {fields.published}"]
    if fields.summary:
        lines.append(fields.summary)
    if fields.matched:
        lines.append("Matched: " + ", ".join(fields.matched))
    if fields.also_reported_links:
        more = f" and {fields.more_sources} more" if fields.more_sources else ""
        lines.append(f"Also reported by: {fields.also_reported_links}{more}")
    return "\n".join(lines)


def _embed_chars(embed: dict[str, Any]) -> int:
    return text_length(embed.get("title", "")) + text_length(embed.get("description", ""))


def _content(text: str, notices: tuple[str, ...]) -> str:
    lines = [text]
    if notices:
        lines.append("\n**Notices**")
        lines += [
            "- " + fit_markup(escape_discord(" ".join(n.split())), NOTICE_CHARS) for n in notices
        ]
    return fit_markup("\n".join(lines), CONTENT_CHARS)


def render(digest: Digest, options: RenderOptions) -> list[Message]:
    """Render the digest as one or more Discord webhook messages, in order."""
    template = story_template(options.template_dir, "discord")
    embeds: list[dict[str, Any]] = []
    for story, fields, text in story_texts(digest, options, MARKUP, template, default_description):
        title = fit_markup(fields.title, TITLE_CHARS)
        room = min(DESCRIPTION_CHARS, EMBEDS_TOTAL_CHARS - text_length(title))
        embed: dict[str, Any] = {
            "title": title,
            "timestamp": utc_z(story.published),
            "color": EMBED_COLOUR,
        }
        description = fit_markup(text, room)
        if description:
            embed["description"] = description
        url = _embed_url(story.url)
        if url is not None:
            embed["url"] = url
        embeds.append(embed)

    groups = pack(embeds, lambda e: (1, _embed_chars(e)), (MAX_EMBEDS, EMBEDS_TOTAL_CHARS))
    if not groups:
        groups = [[]]
    custom = escape_discord(options.title) if options.title else None
    payloads = []
    for index, group in enumerate(groups, start=1):
        label = part_label(index, len(groups))
        head = custom or escape_discord(
            headline(digest, len(embeds)) if embeds else nothing_new(digest)
        )
        last = index == len(groups)
        payloads.append(
            {
                "content": _content(f"**{head}**{label}", digest.notices if last else ()),
                "embeds": group,
                "allowed_mentions": {"parse": []},
            }
        )
    return json_messages(payloads)
