"""The generic JSON digest payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from worker.digest import Message, render
from worker.digest.samples import sample_digest
from worker.models import Digest, DigestStory, Hit, SourceRef


def _digest() -> Digest:
    story = DigestStory(
        story_id=12,
        title="Nippon Steel wins approval",
        url="https://news.example/a",
        source="Example Wire",
        published=datetime(2025, 2, 8, 9, 0, tzinfo=UTC),
        summary="plain text",
        matched=("Nippon Steel",),
        hits=(Hit(term="Nippon Steel", field="title", snippet="... **Nippon Steel** ..."),),
        also_reported_by=(SourceRef(source="Other Paper", url="https://other.example/a"),),
    )
    return Digest(
        id="dig_1",
        watchlist="nippon-steel",
        generated_at=datetime(2025, 2, 8, 9, 0, tzinfo=UTC),
        timezone="Asia/Tokyo",
        stories=(story,),
    )


def test_json_payload_has_the_documented_shape() -> None:
    """The json format produces exactly the documented payload."""
    [message] = render(_digest(), "json")
    assert message.content_type == "application/json"
    assert (message.part, message.parts) == (1, 1)
    assert json.loads(message.body) == {
        "type": "wirewatch.digest",
        "id": "dig_1",
        "watchlist": "nippon-steel",
        "generated_at": "2025-02-08T09:00:00Z",
        "timezone": "Asia/Tokyo",
        "stories": [
            {
                "id": 12,
                "title": "Nippon Steel wins approval",
                "url": "https://news.example/a",
                "source": "Example Wire",
                "published": "2025-02-08T09:00:00Z",
                "published_local": "2025-02-08T18:00:00+09:00",
                "summary": "plain text",
                "matched": ["Nippon Steel"],
                "snippets": [
                    {"term": "Nippon Steel", "field": "title", "text": "... **Nippon Steel** ..."}
                ],
                "also_reported_by": [{"source": "Other Paper", "url": "https://other.example/a"}],
            }
        ],
        "notices": [],
    }


def test_json_times_are_utc_even_when_given_in_another_zone() -> None:
    """A published time given with an offset is sent as UTC with a Z suffix."""
    from zoneinfo import ZoneInfo

    base = _digest()
    story = base.stories[0]
    moved = DigestStory(
        story_id=story.story_id,
        title=story.title,
        url=story.url,
        source=story.source,
        published=datetime(2025, 2, 8, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        summary=story.summary,
        matched=story.matched,
    )
    digest = Digest(
        id=base.id,
        watchlist=base.watchlist,
        generated_at=base.generated_at,
        timezone="America/New_York",
        stories=(moved,),
    )
    [message] = render(digest, "json")
    payload = json.loads(message.body)
    assert payload["stories"][0]["published"] == "2025-02-08T09:00:00Z"
    assert payload["stories"][0]["published_local"] == "2025-02-08T04:00:00-05:00"


def test_json_body_is_utf8_not_ascii_escaped() -> None:
    """Non-ASCII titles travel as UTF-8 bytes a receiver can read directly."""
    digest = sample_digest(0, hostile=True)
    [message] = render(digest, "json")
    assert "日本製鉄".encode() in message.body
    assert json.loads(message.body.decode("utf-8"))["stories"][6]["title"].startswith("日本製鉄")


def test_huge_json_digest_is_one_message_with_every_story() -> None:
    """A 2,000-story digest is one JSON message that keeps every story in order."""
    digest = sample_digest(2000)
    messages = render(digest, "json")
    assert len(messages) == 1
    ids = [story["id"] for story in json.loads(messages[0].body)["stories"]]
    assert ids == [story.story_id for story in digest.stories]


def test_json_notices_are_carried() -> None:
    """Feed failure notices appear in the payload's notices list."""
    digest = sample_digest(1, notices=("feed X has failed since 2025-02-07",))
    [message] = render(digest, "json")
    assert json.loads(message.body)["notices"] == ["feed X has failed since 2025-02-07"]


def test_unknown_format_is_refused() -> None:
    """Asking for a format that does not exist raises ValueError naming it."""
    with pytest.raises(ValueError, match="telegram"):
        render(sample_digest(1), "telegram")


def test_message_is_a_frozen_value() -> None:
    """A rendered message cannot be changed after the fact."""
    message = render(sample_digest(1), "json")[0]
    assert isinstance(message, Message)
    with pytest.raises(AttributeError):
        message.part = 2  # type: ignore[misc]
