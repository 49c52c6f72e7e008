"""Teams digests: Adaptive Cards for Workflows webhooks, under the size cap, split in order."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from worker.digest import render
from worker.digest.samples import sample_digest

STORY_LINK = re.compile(r"\]\((https://news\.example/[^)]*)\)")


def _messages(stories: int = 3, **kwargs: Any) -> list[bytes]:
    return [m.body for m in render(sample_digest(stories, **kwargs), "teams")]


def _card(body: bytes) -> dict[str, Any]:
    payload = json.loads(body)
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def _texts(card: dict[str, Any]) -> list[str]:
    out = []
    for element in card["body"]:
        if element["type"] == "TextBlock":
            out.append(element["text"])
        else:
            out += [item["text"] for item in element["items"]]
    return out


def test_card_is_an_adaptive_card_1_4_in_a_message_envelope() -> None:
    """The body is the Workflows message envelope around an Adaptive Card 1.4."""
    [body] = _messages(2)
    card = _card(body)
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["body"][0]["text"] == "nippon-steel: 2 new stories"
    assert all(block["wrap"] for block in card["body"] if block["type"] == "TextBlock")


def test_story_text_links_title_and_shows_details() -> None:
    """Each story shows its linked title, source and local time, summary and other sources."""
    [body] = _messages(1)
    text = _texts(_card(body))[1]
    assert "[Nippon Steel story number 0 on the U.S. deal](https://news.example/0/" in text
    assert "Example Wire 0 · 2025-02-08 18:00 JST" in text
    assert "[Other Paper](https://other.example/0)" in text


@pytest.mark.parametrize("stories", [200, 60])
def test_long_digest_splits_under_28_kb_and_keeps_every_story_in_order(stories: int) -> None:
    """A long digest becomes several cards, each under 28 KB, with every story in order."""
    bodies = _messages(stories, hostile=True)
    assert len(bodies) > 1
    seen: list[str] = []
    for index, body in enumerate(bodies, start=1):
        assert len(body) < 28 * 1024
        texts = _texts(_card(body))
        assert texts[0].endswith(f"(part {index} of {len(bodies)})")
        seen += [m.group(1) for t in texts[1:] if (m := STORY_LINK.search(t))]
    digest = sample_digest(stories, hostile=True)
    assert seen == [story.url for story in digest.stories]


def test_titles_cannot_add_links_or_mentions() -> None:
    """Markdown links, `<at>` tags and `@everyone` in titles are neutralised."""
    text = "\n".join(t for body in _messages(0, hostile=True) for t in _texts(_card(body)))
    assert "[click](https://evil.example/)" not in text
    assert "\\[click\\]" in text
    assert "<@" not in text
    assert "@everyone" not in text
    assert "</script>" not in text


def test_notices_close_the_last_card() -> None:
    """Notices are the last block of the last card."""
    bodies = _messages(150, notices=("feed X has failed since 2025-02-07",))
    last = _card(bodies[-1])["body"][-1]
    assert "feed X has failed since 2025-02-07" in last["text"]
    assert all(b"feed X" not in body for body in bodies[:-1])


def test_empty_digest_says_nothing_new() -> None:
    """A digest without stories renders one card saying nothing is new."""
    [body] = _messages(0)
    assert _texts(_card(body)) == [
        "Nothing new for nippon-steel.",
        "No new stories matched since the last digest.",
    ]
