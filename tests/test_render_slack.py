"""Slack Block Kit digests: schema-valid, within limits, split in order, injection-proof."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from worker.digest import render
from worker.digest.samples import sample_digest
from worker.digest.text import text_length

SCHEMA_PATH = Path(__file__).parent / "schemas" / "slack-block-kit.schema.json"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _payloads(stories: int = 3, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in render(sample_digest(stories, **kwargs), "slack")]


def _all_text(payload: dict[str, Any]) -> str:
    return "\n".join(block["text"]["text"] for block in payload["blocks"])


def test_small_digest_is_one_schema_valid_message() -> None:
    """A three-story digest is one message that the Block Kit schema accepts."""
    [payload] = _payloads(3)
    _validator().validate(payload["blocks"])
    assert payload["text"] == "nippon-steel: 3 new stories"
    assert payload["blocks"][0]["type"] == "header"


def test_story_section_shows_link_source_time_summary_and_others() -> None:
    """Each story shows its linked title, source, local time, summary and other sources."""
    [payload] = _payloads(1)
    text = payload["blocks"][1]["text"]["text"]
    assert "<https://news.example/0/nippon-steel-deal|Nippon Steel story number 0" in text
    assert "Example Wire 0 · 2025-02-08 18:00 JST" in text
    assert "Story 0: Nippon Steel said" in text
    assert "Also reported by: <https://other.example/0|Other Paper>" in text


@pytest.mark.parametrize("stories", [200, 51, 49])
def test_long_digest_splits_within_limits_and_keeps_every_story_in_order(stories: int) -> None:
    """A long digest becomes several valid messages, each within Slack's limits, none lost."""
    payloads = _payloads(stories, hostile=True)
    assert len(payloads) > 1 or stories < 49
    seen: list[str] = []
    for index, payload in enumerate(payloads, start=1):
        _validator().validate(payload["blocks"])
        assert len(payload["blocks"]) <= 50
        assert all(text_length(b["text"]["text"]) <= 3000 for b in payload["blocks"])
        assert text_length(payload["blocks"][0]["text"]["text"]) <= 150
        assert sum(text_length(b["text"]["text"]) for b in payload["blocks"]) <= 40_000
        if len(payloads) > 1:
            assert f"(part {index} of {len(payloads)})" in payload["text"]
        seen += [
            b["text"]["text"].split("|", 1)[0].removeprefix("*<")
            for b in payload["blocks"][1:]
            if b["text"]["text"].startswith("*<")
        ]
    digest = sample_digest(stories, hostile=True)
    assert seen == [story.url for story in digest.stories]


def test_mentions_in_titles_cannot_ping() -> None:
    """`<!channel>`, `<@U123>` and friends arrive escaped, so Slack shows them as text."""
    text = "\n".join(_all_text(p) for p in _payloads(0, hostile=True))
    assert "<!channel>" not in text
    assert "<@U123ABC>" not in text
    assert "&lt;!channel&gt;" in text
    assert "&lt;@U123ABC&gt;" in text


def test_fake_links_in_titles_stay_text() -> None:
    """A title carrying `<https://evil|fake>` cannot become a Slack link."""
    text = "\n".join(_all_text(p) for p in _payloads(0, hostile=True))
    assert "<https://evil.example|fake link>" not in text
    assert "&lt;https://evil.example|fake link&gt;" in text.replace("¦", "|")


def test_ten_thousand_character_title_is_trimmed_at_a_word() -> None:
    """A huge title is cut at a word boundary with an ellipsis, and the story still shows."""
    payloads = _payloads(0, hostile=True)
    long_block = next(
        b["text"]["text"]
        for p in payloads
        for b in p["blocks"][1:]
        if "very long headline" in b["text"]["text"]
    )
    title = long_block.split("|", 1)[1].split(">", 1)[0]
    assert title.endswith("headline…") or title.endswith("very…") or title.endswith("long…")
    assert len(title) <= 251


def test_unicode_and_ampersands_survive() -> None:
    """Japanese, emoji and ampersands arrive intact (ampersands as `&amp;`)."""
    text = "\n".join(_all_text(p) for p in _payloads(0, hostile=True))
    assert "日本製鉄 Nippon Steel 🚀 ünïcödé" in text
    assert "&amp; ampersands" in text


def test_control_characters_are_dropped() -> None:
    """A NUL or newline inside a title does not reach the message."""
    text = "\n".join(_all_text(p) for p in _payloads(0, hostile=True))
    assert "\x00" not in text
    assert "newlinenull" in text or "newline null" in text


def test_notices_are_in_the_footer_of_the_last_message() -> None:
    """Feed failure notices appear once, at the end of the last message."""
    payloads = _payloads(120, notices=("feed X has failed since 2025-02-07",))
    assert "feed X has failed" in payloads[-1]["blocks"][-1]["text"]["text"]
    assert all("feed X has failed" not in _all_text(p) for p in payloads[:-1])


def test_empty_digest_says_nothing_new() -> None:
    """A digest without stories renders one valid 'nothing new' message."""
    [payload] = _payloads(0)
    _validator().validate(payload["blocks"])
    assert payload["text"] == "Nothing new for nippon-steel."
    assert payload["blocks"][1]["text"]["text"] == "No new stories matched since the last digest."


def test_schema_rejects_a_broken_block() -> None:
    """The copied schema is strict enough to catch a section without text."""
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate([{"type": "section"}])
