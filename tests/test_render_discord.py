"""Discord digests: embeds within limits, split in order, and nothing can ping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.digest import render
from worker.digest.samples import sample_digest
from worker.digest.text import ZERO_WIDTH_SPACE, text_length


def _payloads(stories: int = 3, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in render(sample_digest(stories, **kwargs), "discord")]


def _embed_text(payload: dict[str, Any]) -> str:
    return "\n".join(
        e.get("title", "") + "\n" + e.get("description", "") for e in payload["embeds"]
    )


def _assert_within_limits(payload: dict[str, Any]) -> None:
    assert text_length(payload["content"]) <= 2000
    assert len(payload["embeds"]) <= 10
    total = 0
    for embed in payload["embeds"]:
        assert text_length(embed["title"]) <= 256
        assert text_length(embed.get("description", "")) <= 4096
        total += text_length(embed["title"]) + text_length(embed.get("description", ""))
    assert total <= 6000


def test_every_message_disables_mentions() -> None:
    """Every message carries allowed_mentions with an empty parse list."""
    for payload in _payloads(30, hostile=True):
        assert payload["allowed_mentions"] == {"parse": []}


def test_story_embed_links_title_and_shows_details() -> None:
    """A story becomes an embed titled and linked to the story, with source, time, summary."""
    [payload] = _payloads(1)
    [embed] = payload["embeds"]
    assert embed["title"] == "Nippon Steel story number 0 on the U.S. deal"
    assert embed["url"] == "https://news.example/0/nippon-steel-deal"
    assert embed["timestamp"] == "2025-02-08T09:00:00Z"
    assert "Example Wire 0 · 2025-02-08 18:00 JST" in embed["description"]
    assert "[Other Paper](https://other.example/0)" in embed["description"]
    assert payload["content"] == "**nippon-steel: 1 new story**"


@pytest.mark.parametrize("stories", [200, 10, 11])
def test_long_digest_splits_within_limits_and_keeps_every_story_in_order(stories: int) -> None:
    """A long digest becomes several messages within Discord's limits, none lost."""
    payloads = _payloads(stories, hostile=True)
    urls: list[str] = []
    for index, payload in enumerate(payloads, start=1):
        _assert_within_limits(payload)
        if len(payloads) > 1:
            assert f"(part {index} of {len(payloads)})" in payload["content"]
        urls += [embed["url"] for embed in payload["embeds"]]
    digest = sample_digest(stories, hostile=True)
    assert urls == [story.url for story in digest.stories]


def test_everyone_and_here_are_defused_in_text() -> None:
    """`@everyone` and `@here` get a zero-width space so they are not mentions."""
    text = "\n".join(_embed_text(p) for p in _payloads(0, hostile=True))
    assert "@everyone" not in text
    assert "@here" not in text
    assert f"@{ZERO_WIDTH_SPACE}everyone" in text


def test_user_role_and_channel_mentions_are_defused() -> None:
    """`<@U123>`, `<@&id>` and `<#id>` cannot form Discord mentions."""
    text = "\n".join(_embed_text(p) for p in _payloads(0, hostile=True))
    for raw in ("<@U123ABC>", "<@&987654321>", "<#C42>", "<@"):
        assert raw not in text


def test_markdown_injection_is_escaped() -> None:
    """Bold, links and code in a title show as typed instead of styling the message."""
    text = "\n".join(_embed_text(p) for p in _payloads(0, hostile=True))
    assert "\\*\\*Nippon Steel\\*\\* \\[click\\](https://evil.example/) \\`code\\`" in text


def test_huge_title_is_trimmed_to_the_embed_limit() -> None:
    """A 10,000-character title is cut to at most 256 characters at a word boundary."""
    titles = [e["title"] for p in _payloads(0, hostile=True) for e in p["embeds"]]
    long_title = next(t for t in titles if "very long headline" in t)
    assert text_length(long_title) <= 256
    assert long_title.endswith("…")
    assert not long_title.removesuffix("…").endswith(("ver", "lon", "headlin"))


def test_invalid_story_url_is_left_out_not_sent() -> None:
    """A story whose URL Discord would reject keeps its embed but without a link."""
    from dataclasses import replace

    digest = sample_digest(2)
    bad = replace(digest.stories[0], url="javascript:alert(1)")
    digest = replace(digest, stories=(bad, digest.stories[1]))
    [payload] = [json.loads(m.body) for m in render(digest, "discord")]
    assert "url" not in payload["embeds"][0]
    assert payload["embeds"][1]["url"] == digest.stories[1].url


def test_notices_are_in_the_last_message_content() -> None:
    """Notices go in the content of the last message only."""
    payloads = _payloads(25, notices=("feed @everyone has failed",))
    assert "feed @\u200beveryone has failed" in payloads[-1]["content"]
    assert all("Notices" not in p["content"] for p in payloads[:-1])


def test_empty_digest_says_nothing_new() -> None:
    """A digest without stories renders one message saying nothing is new."""
    [payload] = _payloads(0)
    assert payload["embeds"] == []
    assert "Nothing new for nippon-steel." in payload["content"]
