"""Plain text for Apprise: a `{"title": ..., "body": ...}` JSON message per part.

The sender hands title and body to Apprise with the text body format, and Apprise
adapts them to the target service. Bodies are kept to 1,900 characters, short enough for
most services Apprise reaches, and a long digest is split into several notifications.
Text is plain: control characters dropped, and a zero-width space after each `@` and `<`
so a title cannot mention anyone on a service that would read it as markup.
"""

from __future__ import annotations

from worker.digest.layout import (
    Markup,
    StoryFields,
    headline,
    json_messages,
    nothing_new,
    nothing_new_detail,
    pack,
    part_label,
    story_texts,
)
from worker.digest.message import Message, RenderOptions
from worker.digest.text import ZERO_WIDTH_SPACE, defuse_mentions, fit_markup, one_line, text_length
from worker.models import Digest

BODY_CHARS = 1900
TITLE_CHARS = 250
SUMMARY_CHARS = 200
NOTICE_CHARS = 300


def escape_plain(text: str) -> str:
    """Plain text with mentions defused."""
    return defuse_mentions(text).replace("<", "<" + ZERO_WIDTH_SPACE)


MARKUP = Markup(
    escape=escape_plain,
    url=lambda url: url,
    link=lambda label, url: f"{label} ({url})",
    bold=lambda text: text,
)


def story_text(fields: StoryFields) -> str:
    """One story as a few plain lines."""
    lines = [f"• {fields.title}", f"  {fields.source} · {fields.published}", f"  {fields.url}"]
    if fields.summary:
        lines.append(f"  {fields.summary}")
    if fields.also_reported_by:
        names = ", ".join(name for name, _ in fields.also_reported_by)
        more = f" and {fields.more_sources} more" if fields.more_sources else ""
        lines.append(f"  Also reported by: {names}{more}")
    return "\n".join(lines)


def render(digest: Digest, options: RenderOptions) -> list[Message]:
    """Render the digest as one or more title + body notifications, in order."""
    short = RenderOptions(
        summary_chars=min(options.summary_chars, SUMMARY_CHARS), title=options.title
    )
    pieces = [
        fit_markup(text, BODY_CHARS)
        for _, _, text in story_texts(digest, short, MARKUP, None, story_text)
    ]
    count = len(pieces)
    if not pieces:
        pieces.append(escape_plain(nothing_new_detail()))
    if digest.notices:
        notes = [fit_markup(escape_plain(one_line(n)), NOTICE_CHARS) for n in digest.notices]
        pieces += [fit_markup("Notices:\n" + "\n".join(f"- {n}" for n in notes), BODY_CHARS)]
    groups = pack(pieces, lambda piece: (text_length(piece) + 2,), (BODY_CHARS,))
    title = escape_plain(
        one_line(options.title or (headline(digest, count) if count else nothing_new(digest)))
    )
    payloads = []
    for index, group in enumerate(groups, start=1):
        label = part_label(index, len(groups))
        payloads.append(
            {
                "title": fit_markup(title, TITLE_CHARS - len(label)) + label,
                "body": "\n\n".join(group),
            }
        )
    return json_messages(payloads)
