"""Apprise digests: plain title and body pairs, small, split in order."""

from __future__ import annotations

import json
from typing import Any

from worker.digest import render
from worker.digest.samples import sample_digest
from worker.digest.text import text_length


def _payloads(stories: int = 3, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in render(sample_digest(stories, **kwargs), "apprise")]


def test_payload_is_a_title_and_body_pair() -> None:
    """Each message is a JSON object with exactly a title and a body."""
    [payload] = _payloads(1)
    assert set(payload) == {"title", "body"}
    assert payload["title"] == "nippon-steel: 1 new story"
    assert "• Nippon Steel story number 0 on the U.S. deal" in payload["body"]
    assert "https://news.example/0/nippon-steel-deal" in payload["body"]


def test_long_digest_splits_into_small_bodies_in_order() -> None:
    """A 200-story digest becomes numbered notifications under 1,900 characters each."""
    payloads = _payloads(200, hostile=True)
    seen: list[str] = []
    for index, payload in enumerate(payloads, start=1):
        assert text_length(payload["body"]) <= 1900
        assert text_length(payload["title"]) <= 250
        assert payload["title"].endswith(f"(part {index} of {len(payloads)})")
        seen += [line.strip() for line in payload["body"].splitlines() if "news.example/" in line]
    assert seen == [story.url for story in sample_digest(200, hostile=True).stories]


def test_mentions_are_defused_in_plain_text() -> None:
    """`@everyone` and `<!channel>` cannot ping through services Apprise reaches."""
    body = "\n".join(p["body"] for p in _payloads(0, hostile=True))
    assert "@everyone" not in body
    assert "<!channel>" not in body


def test_empty_digest_says_nothing_new() -> None:
    """A digest without stories renders one 'nothing new' notification."""
    [payload] = _payloads(0)
    assert payload["title"] == "Nothing new for nippon-steel."
