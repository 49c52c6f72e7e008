"""`watchlists test` and `watchlists backfill`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.servers import Response
from tests.test_commands_fixtures import Setup, setup, wirewatch

__all__ = ["setup"]

BAKERY = "Local bakery wins regional bread contest"


def test_watchlists_test_explains_text_file_story_and_url(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0 with the terms found on a match, 1 on a miss, 2 for an unknown list or a bad URL."""
    name = "nippon-steel"
    assert wirewatch(["watchlists", "test", name, "--text", "Nippon Steel buys a mill"]) == 0
    out = capsys.readouterr().out
    assert "nippon-steel: MATCHED (the query holds)" in out
    assert "Nippon Steel in summary: **Nippon Steel** buys a mill" in out

    (setup.tmp_path / "note.txt").write_text("Steel prices rose in Ohio.", encoding="utf-8")
    assert wirewatch(["watchlists", "test", name, "--file", "note.txt"]) == 1
    out = capsys.readouterr().out
    assert "NOT MATCHED (the query does not hold)" in out
    assert "terms not found: Nippon Steel, U.S. Steel" in out

    setup.poll_only()
    capsys.readouterr()
    assert wirewatch(["watchlists", "test", name, "--story", str(setup.story_id(BAKERY))]) == 1
    assert "NOT MATCHED" in capsys.readouterr().out

    assert wirewatch(["watchlists", "test", name, "--url", setup.feeds.url("/wire.rss")]) == 0
    out = capsys.readouterr().out
    assert f"--- entry 3/3: {BAKERY}" in out and "of 3 entries matched" in out
    setup.feeds.routes["/page"] = Response(
        b"<!doctype html><html><head><title>Mill news</title></head>"
        b"<body><p>U.S. Steel opens a mill.</p></body></html>",
        headers={"content-type": "text/html"},
    )
    assert wirewatch(["watchlists", "test", name, "--url", setup.feeds.url("/page")]) == 0
    assert "U.S. Steel in summary" in capsys.readouterr().out

    assert wirewatch(["watchlists", "test", name, "--url", setup.feeds.url("/missing")]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert wirewatch(["watchlists", "test", "no-such-list", "--text", "x"]) == 2
    assert "no valid watchlist named 'no-such-list'" in capsys.readouterr().err
    assert wirewatch(["watchlists", "test", name, "--story", "999999"]) == 2
    assert "no story with id 999999" in capsys.readouterr().err


def test_backfill_queues_stored_stories_once(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new watchlist gets matching stored stories queued once; already matched ones are not."""
    assert wirewatch(["run", "--once"]) == 0
    setup.write_watchlist("bakery", "bakery OR sourdough")
    capsys.readouterr()

    assert wirewatch(["watchlists", "backfill", "bakery", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert "bakery: 3 stories since" in out
    assert "(2 duplicates skipped); 1 queued for the next digest, 0 already matched" in out
    assert wirewatch(["watchlists", "backfill", "bakery", "--since", "1w"]) == 0
    assert "0 queued for the next digest, 1 already matched" in capsys.readouterr().out
    assert wirewatch(["watchlists", "backfill", "nippon-steel", "--since", "90m"]) == 0
    assert "0 queued for the next digest, 2 already matched" in capsys.readouterr().out

    assert wirewatch(["digest", "preview", "bakery"]) == 0
    stories = json.loads(capsys.readouterr().out)["stories"]
    assert [story["title"] for story in stories] == [BAKERY]

    with pytest.raises(SystemExit) as exited:
        wirewatch(["watchlists", "backfill", "bakery", "--since", "7 days"])
    assert exited.value.code == 2
    assert "not a duration such as 30m, 12h, 7d or 2w" in capsys.readouterr().err
