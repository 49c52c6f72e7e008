"""Microsoft Teams messages: an Adaptive Card 1.4 for a Power Automate Workflows webhook.

The body is `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`; each story is a
container holding one wrapped markdown TextBlock. Teams refuses cards of about 28 KB or
more, so each message is kept under 27,000 bytes of JSON and a long digest becomes
several cards. Text has its markdown escaped with backslashes and a zero-width space put
after each `<` and `@`, so a title can neither add links nor fake an `<at>` mention.
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
    to_json,
)
from worker.digest.message import Message, RenderOptions
from worker.digest.templating import story_template
from worker.digest.text import escape_teams, fit_markup, teams_url
from worker.models import Digest

MAX_MESSAGE_BYTES = 27_000
STORY_CHARS = 4000
NOTICE_CHARS = 500
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

MARKUP = Markup(
    escape=escape_teams,
    url=teams_url,
    link=lambda label, url: f"[{label}]({url})",
    bold=lambda text: f"**{text}**",
    line_break="\n\n",
)


def _text_block(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _container(text: str) -> dict[str, Any]:
    return {
        "type": "Container",
        "separator": True,
        "spacing": "Medium",
        "items": [_text_block(text)],
    }


def _envelope(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": CARD_CONTENT_TYPE,
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": CARD_VERSION,
                    "msteams": {"width": "Full"},
                    "body": body,
                },
            }
        ],
    }


def _header(text: str) -> dict[str, Any]:
    return _text_block(text, size="Large", weight="Bolder")


def _notices(notices: tuple[str, ...]) -> list[dict[str, Any]]:
    lines = ["- " + fit_markup(escape_teams(" ".join(n.split())), NOTICE_CHARS) for n in notices]
    return [_text_block("**Notices**\n\n" + "\n".join(lines), isSubtle=True, separator=True)]


def render(digest: Digest, options: RenderOptions) -> list[Message]:
    """Render the digest as one or more Adaptive Card messages, in order."""
    template = story_template(options.template_dir, "teams")

    def default(fields: StoryFields) -> str:
        return default_story_text(fields, MARKUP)

    items = [
        _container(fit_markup(text, STORY_CHARS) or fields.link)
        for _, fields, text in story_texts(digest, options, MARKUP, template, default)
    ]
    count = len(items)
    if not items:
        items.append(_container(escape_teams(nothing_new_detail())))
    if digest.notices:
        items += _notices(digest.notices)

    title = escape_teams(
        options.title or (headline(digest, count) if count else nothing_new(digest))
    )
    skeleton = len(to_json(_envelope([_header(title + part_label(999, 999))])))
    groups = pack(items, lambda item: (len(to_json(item)) + 1,), (MAX_MESSAGE_BYTES - skeleton,))
    payloads = [
        _envelope([_header(title + part_label(index, len(groups))), *group])
        for index, group in enumerate(groups, start=1)
    ]
    return json_messages(payloads)
