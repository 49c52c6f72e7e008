"""`digest preview` and `stories show`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.test_commands_fixtures import HOOK_PATH, Setup, setup, wirewatch

__all__ = ["setup"]

OFFER = "Nippon Steel weighs new offer for U.S. Steel plants"
SHARES = "U.S. Steel shares climb on Tokyo visit"
REPRINT = "Nippon Steel offer: what it means for mills"


def test_digest_preview_prints_the_pending_digest_and_changes_nothing(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preview shows the queued stories as JSON; nothing is sent and the next run sends them."""
    setup.poll_only()
    capsys.readouterr()
    assert wirewatch(["digest", "preview", "nippon-steel"]) == 0
    first = capsys.readouterr()
    payload = json.loads(first.out)
    assert first.out.startswith("{\n  ")
    assert payload["watchlist"] == "nippon-steel"
    by_title = {story["title"]: story for story in payload["stories"]}
    assert set(by_title) == {OFFER, SHARES}
    assert by_title[OFFER]["source"] == "Wire RSS"
    assert "nothing was sent" in first.err

    assert wirewatch(["digest", "preview", "nippon-steel", "--format", "slack"]) == 0
    assert OFFER in capsys.readouterr().out
    assert wirewatch(["digest", "preview", "no-such-list"]) == 1
    assert "no watchlist named 'no-such-list'" in capsys.readouterr().err
    assert setup.receiver.received(HOOK_PATH) == []

    assert wirewatch(["run", "--once"]) == 0
    (sent,) = setup.receiver.received(HOOK_PATH)
    assert {story["title"] for story in sent.json()["stories"]} == {OFFER, SHARES}


def test_stories_show_prints_verdict_cluster_and_matches(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A story shows feed, cluster and matches; a duplicate names the story or seed it repeats."""
    assert wirewatch(["run", "--once"]) == 0
    offer, reprint = setup.story_id(OFFER), setup.story_id(REPRINT)
    capsys.readouterr()

    assert wirewatch(["stories", "show", str(offer)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"story {offer}: {OFFER}"
    assert "Wire RSS" in out and "https://news.example/a?utm_source=rss" in out
    assert "  new (no duplicate or related document found)" in out
    assert f"story {reprint} [duplicate] {REPRINT} (Markets Atom)" in out
    assert "nippon-steel: digested, digest dg_" in out
    assert "matched: Nippon Steel, U.S. Steel" in out and "**Nippon Steel**" in out

    assert wirewatch(["stories", "show", str(reprint)]) == 0
    out = capsys.readouterr().out
    assert "  duplicate (layer url)" in out
    assert f"  of story {offer}: {OFFER}" in out
    assert "containment 1.000, jaccard 1.000" in out
    assert "matches:\n  none" in out

    repeat = setup.story_id("Deal fallout: Japan's minister rebukes Washington")
    assert wirewatch(["stories", "show", str(repeat)]) == 0
    out = capsys.readouterr().out
    assert "  duplicate (layer" in out and "  of seed " in out
    assert "000_21ac5c2e8d50d5c1.txt" in out

    assert wirewatch(["stories", "show", "999999"]) == 1
    assert "no story with id 999999" in capsys.readouterr().err
