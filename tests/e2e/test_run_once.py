"""`wirewatch run --once` end to end: real feeds, a real receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import REPO, worker_env
from tests.feedgen import Item, atom, rss
from tests.servers import LocalServer, Response

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime.now(UTC)

pytestmark = pytest.mark.slow


def seed_paragraphs(count: int) -> str:
    """The first paragraphs of seed 000 (Biden blocks the deal; Blinken in Tokyo)."""
    text = (REPO / "seeds" / "000_21ac5c2e8d50d5c1.txt").read_text(encoding="utf-8")
    return " ".join(text.splitlines()[:count])


def write_watchlist(directory: Path, feeds: list[str], hook: str) -> None:
    """A watchlist following Nippon Steel on the test feeds, signed JSON webhook."""
    directory.mkdir()
    (directory / "nippon.yaml").write_text(
        "name: nippon-steel\n"
        'query: \'"Nippon Steel" OR "U.S. Steel"\'\n'
        f"feeds: {json.dumps(feeds)}\n"
        'schedule: "0 8 * * *"\n'
        "timezone: Asia/Tokyo\n"
        "webhooks:\n"
        f"  - url: {hook}\n"
        "    format: json\n"
        "    secret: ${HOOK_SECRET}\n",
        encoding="utf-8",
    )


def run_once(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `wirewatch run --once` as a user would, in a subprocess."""
    env = worker_env(
        database_url, tmp_path / "watchlists", WIREWATCH_LOG_FORMAT="json", HOOK_SECRET=SECRET
    )
    return subprocess.run(
        [sys.executable, "-m", "worker", "run", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def published_feeds(feed_server: LocalServer) -> list[str]:
    """An RSS feed and an Atom feed with a seed repeat, matches, a miss and an old story."""
    fresh = NOW - timedelta(hours=1)
    feed_server.routes["/wire.rss"] = Response(
        rss(
            "Wire RSS",
            [
                Item(
                    "w-1",
                    "Nippon Steel weighs new offer for U.S. Steel plants",
                    "https://news.example/a?utm_source=rss",
                    "Nippon Steel is weighing a fresh proposal to invest in Pennsylvania "
                    "mills, executives told shareholders in Osaka on Thursday.",
                    fresh,
                ),
                Item(
                    "w-2",
                    "Deal fallout: Japan's minister rebukes Washington",
                    "https://news.example/b",
                    seed_paragraphs(4),
                    fresh,
                ),
                Item(
                    "w-3",
                    "Local bakery wins regional bread contest",
                    "https://news.example/c",
                    "A family bakery took first prize for its sourdough loaf.",
                    fresh,
                ),
                Item(
                    "w-4",
                    "Nippon Steel annual report from last year",
                    "https://news.example/old",
                    "An old report about Nippon Steel results from long ago.",
                    NOW - timedelta(days=40),
                ),
            ],
        ),
        headers={"content-type": "application/rss+xml"},
    )
    feed_server.routes["/markets.atom"] = Response(
        atom(
            "Markets Atom",
            [
                Item(
                    "urn:m-1",
                    "U.S. Steel shares climb on Tokyo visit",
                    "https://markets.example/1",
                    "Shares in U.S. Steel rose after the Japanese prime minister said talks "
                    "with Washington on steel investment would continue next month.",
                    fresh,
                ),
            ],
        ),
        headers={"content-type": "application/atom+xml"},
    )
    return [feed_server.url("/wire.rss"), feed_server.url("/markets.atom")]


def test_run_once_delivers_one_signed_digest(
    database_url: str, tmp_path: Path, published_feeds: list[str], receiver: LocalServer
) -> None:
    """Matching stories from both feeds arrive signed; seed repeats, misses, backlog do not."""
    receiver.routes["/hook"] = Response(b"ok", 200)
    write_watchlist(tmp_path / "watchlists", published_feeds, receiver.url("/hook"))

    first = run_once(database_url, tmp_path)
    assert first.returncode == 0, first.stderr

    posts = receiver.received("/hook")
    assert len(posts) == 1
    post = posts[0]
    Webhook(SECRET).verify(post.body, post.headers)
    payload = post.json()
    assert payload["type"] == "wirewatch.digest"
    assert payload["watchlist"] == "nippon-steel"
    titles = {story["title"] for story in payload["stories"]}
    assert titles == {
        "Nippon Steel weighs new offer for U.S. Steel plants",
        "U.S. Steel shares climb on Tokyo visit",
    }
    by_title = {story["title"]: story for story in payload["stories"]}
    assert by_title["U.S. Steel shares climb on Tokyo visit"]["source"] == "Markets Atom"
    assert "U.S. Steel" in by_title["U.S. Steel shares climb on Tokyo visit"]["matched"]

    second = run_once(database_url, tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(receiver.received("/hook")) == 1


def test_failing_feed_does_not_stop_the_others(
    database_url: str, tmp_path: Path, published_feeds: list[str], receiver: LocalServer,
    feed_server: LocalServer,
) -> None:  # fmt: skip
    """A feed answering 500 and an ill-formed one are recorded; the good feeds still deliver."""
    receiver.routes["/hook"] = Response(b"ok", 200)
    feed_server.routes["/broken"] = Response(b"oops", 500)
    feed_server.routes["/garbage"] = Response(b"<rss><channel><title>x</ti", 200)
    feeds = [*published_feeds, feed_server.url("/broken"), feed_server.url("/garbage")]
    write_watchlist(tmp_path / "watchlists", feeds, receiver.url("/hook"))

    result = run_once(database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["feeds"] == 4
    assert summary["feeds_failed"] == 2
    assert len(receiver.received("/hook")) == 1
    assert len(receiver.received("/hook")[0].json()["stories"]) == 2
