"""The same wire story from three outlets is reported once, with the others listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_run_once import run_once, write_watchlist
from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response

pytestmark = pytest.mark.slow

WIRE = (
    "Nippon Steel said on Tuesday it would invest an additional 11 billion dollars in U.S. "
    "Steel plants in Pennsylvania and Indiana by 2028, including a new electric arc furnace "
    "in the Mon Valley, after the two companies completed their merger under a national "
    "security agreement that gives the federal government a golden share in the company. "
    "The investment is on top of the 14 billion dollars pledged when the deal closed in June."
)


def test_three_outlets_one_story_two_also_reported_by(
    database_url: str, tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> None:
    """One digest entry for the wire story, with the two other outlets under also_reported_by."""
    now = datetime.now(UTC)
    outlets = {
        "/wire.rss": (
            "Wire Service",
            "Nippon Steel to invest $11 billion more in U.S. Steel",
            WIRE,
        ),
        "/daily.rss": (
            "Pittsburgh Daily",
            "Mon Valley furnace part of Nippon Steel's new $11bn pledge",
            "PITTSBURGH (Wire) - " + WIRE + " Reporting by Ann Writer; Editing by Bob Editor",
        ),
        "/tokyo.rss": (
            "Tokyo Business",
            "Nippon Steel commits fresh billions to American mills",
            WIRE.rsplit(". ", 1)[0] + ". Sign up for our newsletter.",
        ),
    }
    urls = []
    for n, (path, (source, title, text)) in enumerate(outlets.items()):
        feed_server.routes[path] = Response(
            rss(
                source,
                [
                    Item(
                        f"{path}-1",
                        title,
                        f"https://{n}.example/story",
                        text,
                        now - timedelta(minutes=30 - n),
                    )
                ],
            )
        )
        urls.append(feed_server.url(path))
    receiver.routes["/hook"] = Response(b"", 204)
    write_watchlist(tmp_path / "watchlists", urls, receiver.url("/hook"))

    result = run_once(database_url, tmp_path)
    assert result.returncode == 0, result.stderr

    [post] = receiver.received("/hook")
    stories = post.json()["stories"]
    assert len(stories) == 1
    story = stories[0]
    others = {(ref["source"], ref["url"]) for ref in story["also_reported_by"]}
    sources = {story["source"]} | {source for source, _ in others}
    assert sources == {"Wire Service", "Pittsburgh Daily", "Tokyo Business"}
    assert len(others) == 2
