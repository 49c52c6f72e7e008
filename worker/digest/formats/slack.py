"""Slack incoming-webhook messages in Block Kit.

Each message is a header block, one mrkdwn section per story, and the notices as a
footer section in the last message. Limits kept per message: at most 50 blocks, section
text at most 3,000 characters, header at most 150, and a conservative 36,000 characters
in all; a top-level `text` is the notification fallback. Only `&`, `<` and `>` are
escaped, as Slack documents, which is enough to stop `<!channel>` or `<@U123>` from
pinging: a mention needs a literal `<`.
"""

from __future__ import annotations

from typing import Any

from worker.digest.layout import (
    Markup,
    StoryFields,
    default_story_text,
    headline,
    json_messages,
    nothing_new,
    nothing_new_detail,
    pack,
    part_label,
    story_texts,
)
from worker.digest.message import Message, RenderOptions
from worker.digest.templating import story_template
from worker.digest.text import escape_slack, fit_markup, slack_url, text_length
from worker.models import Digest

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
MESSAGE_CHARS = 36_000
NOTICE_CHARS = 500

MARKUP = Markup(
    escape=escape_slack,
    url=slack_url,
    link=lambda label, url: f"<{url}|{label.replace('|', '¦')}>",
    bold=lambda text: f"*{text}*",
)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _notice_blocks(notices: tuple[str, ...]) -> list[dict[str, Any]]:
    """The notices as footer sections, as few as fit."""
    lines = ["• " + fit_markup(escape_slack(" ".join(n.split())), NOTICE_CHARS) for n in notices]
    groups = pack(lines, lambda line: (text_length(line) + 1,), (SECTION_CHARS - 20,))
    return [_section(":warning: *Notices*\n" + "\n".join(group)) for group in groups]


def render(digest: Digest, options: RenderOptions) -> list[Message]:
    """Render the digest as one or more Block Kit messages, in order."""
    template = story_template(options.template_dir, "slack")

    def default(fields: StoryFields) -> str:
        return default_story_text(fields, MARKUP)

    blocks = [
        _section(fit_markup(text, SECTION_CHARS) or fields.link)
        for _, fields, text in story_texts(digest, options, MARKUP, template, default)
    ]
    count = len(blocks)
    if not blocks:
        blocks.append(_section(escape_slack(nothing_new_detail())))
    blocks += _notice_blocks(digest.notices)

    def cost(block: dict[str, Any]) -> tuple[int, int]:
        return 1, text_length(block["text"]["text"])

    groups = pack(blocks, cost, (MAX_BLOCKS - 1, MESSAGE_CHARS - 2 * HEADER_CHARS))
    title = options.title or (headline(digest, count) if count else nothing_new(digest))
    payloads = []
    for index, group in enumerate(groups, start=1):
        label = part_label(index, len(groups))
        head = fit_markup(title, HEADER_CHARS - len(label)) + label
        payloads.append({"text": escape_slack(head), "blocks": [_header(head), *group]})
    return json_messages(payloads)
