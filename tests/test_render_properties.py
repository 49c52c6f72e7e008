"""Property tests: any feed text renders within every platform's limits, losing no story."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.digest import render
from worker.digest.text import text_length
from worker.models import Digest, DigestStory, SourceRef

BASE = datetime(2025, 2, 8, 9, 0, tzinfo=UTC)

texts = st.text(min_size=0, max_size=400)
stories = st.lists(st.tuples(texts, texts, texts), min_size=0, max_size=25)


def _digest(items: list[tuple[str, str, str]]) -> Digest:
    return Digest(
        id="dig_p",
        watchlist="prop",
        generated_at=BASE,
        timezone="Europe/Paris",
        stories=tuple(
            DigestStory(
                story_id=index,
                title=title,
                url=f"https://news.example/{index}",
                source=source,
                published=BASE - timedelta(minutes=index),
                summary=summary,
                matched=("term",),
                also_reported_by=(SourceRef(source=source, url="https://o.example/"),),
            )
            for index, (title, summary, source) in enumerate(items)
        ),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_slack_messages_stay_within_limits(items: list[tuple[str, str, str]]) -> None:
    """Whatever the feed text, Slack messages respect block and text limits."""
    messages = [json.loads(m.body) for m in render(_digest(items), "slack")]
    links = 0
    for payload in messages:
        assert len(payload["blocks"]) <= 50
        for block in payload["blocks"]:
            assert 1 <= text_length(block["text"]["text"]) <= 3000
        links += sum(b["text"]["text"].count("https://news.example/") for b in payload["blocks"])
    assert links == len(items)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_discord_messages_stay_within_limits(items: list[tuple[str, str, str]]) -> None:
    """Whatever the feed text, Discord messages respect embed limits and keep every story."""
    messages = [json.loads(m.body) for m in render(_digest(items), "discord")]
    urls = []
    for payload in messages:
        assert text_length(payload["content"]) <= 2000
        assert len(payload["embeds"]) <= 10
        assert (
            sum(
                text_length(e["title"]) + text_length(e.get("description", ""))
                for e in payload["embeds"]
            )
            <= 6000
        )
        assert payload["allowed_mentions"] == {"parse": []}
        urls += [e["url"] for e in payload["embeds"]]
    assert urls == [f"https://news.example/{i}" for i in range(len(items))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_teams_and_apprise_messages_stay_within_limits(items: list[tuple[str, str, str]]) -> None:
    """Whatever the feed text, Teams cards stay under 28 KB and Apprise bodies short."""
    digest = _digest(items)
    assert all(len(m.body) < 28 * 1024 for m in render(digest, "teams"))
    for message in render(digest, "apprise"):
        assert text_length(json.loads(message.body)["body"]) <= 1900
