"""Shared setup of the operator-command tests: real feeds, a real receiver, a real pipeline."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from tests.conftest import REPO
from tests.feedgen import Item, atom, rss
from tests.servers import LocalServer, Response
from worker import cli
from worker.app import build_worker
from worker.config import load_settings
from worker.pipeline import poll_feeds
from worker.seeds import iter_seed_files
from worker.store.db import normalise_url, upgrade
from worker.store.seed_docs import import_seeds
from worker.store.tables import Story

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK_PATH = "/hook/T0KEN-b7c1e55e"
NOW = datetime.now(UTC)


def wirewatch(argv: Sequence[str]) -> int:
    """Run `wirewatch ARGV` in-process, as the console script does."""
    return cli.main(list(argv))


def seed_paragraphs(count: int) -> str:
    """The first paragraphs of seed 000 (a story the user has already read)."""
    text = (REPO / "seeds" / "000_21ac5c2e8d50d5c1.txt").read_text(encoding="utf-8")
    return " ".join(text.splitlines()[:count])


@dataclass
class Setup:
    """The servers and paths of one test."""

    database_url: str
    tmp_path: Path
    feeds: LocalServer
    receiver: LocalServer

    @property
    def hook_url(self) -> str:
        """The webhook URL (a secret, with a token in its path)."""
        return self.receiver.url(HOOK_PATH)

    def write_watchlist(self, name: str, query: str) -> None:
        """A watchlist on the test feeds with a signed JSON webhook."""
        feeds = [self.feeds.url("/wire.rss"), self.feeds.url("/wire2.atom"),
                 self.feeds.url("/broken")]  # fmt: skip
        (self.tmp_path / "watchlists" / f"{name}.yaml").write_text(
            f"name: {name}\nquery: '{query}'\nfeeds: {json.dumps(feeds)}\n"
            'schedule: "0 8 * * *"\ntimezone: Asia/Tokyo\n'
            f"webhooks:\n  - url: {self.hook_url}\n    format: json\n"
            "    secret: ${HOOK_SECRET}\n",
            encoding="utf-8",
        )

    def poll_only(self) -> None:
        """Poll the feeds and queue the matches, building no digest."""
        worker = build_worker(load_settings())
        try:
            upgrade(worker.engine)
            with worker.sessions.begin() as session:
                import_seeds(session, iter_seed_files(REPO / "seeds"), worker.near, worker.clock())
            worker.registry.refresh()
            poll_feeds(worker)
        finally:
            worker.close()

    def story_id(self, title: str) -> int:
        """The id of the stored story with this title."""
        engine = create_engine(normalise_url(self.database_url))
        try:
            with engine.connect() as conn:
                found = conn.scalar(select(Story.id).where(Story.title == title))
        finally:
            engine.dispose()
        assert found is not None, title
        return int(found)


def publish(feeds: LocalServer) -> None:
    """Two good feeds (matches, a seed repeat, a miss, a URL repeat polled later), a broken one."""
    fresh = NOW - timedelta(hours=1)
    feeds.routes["/wire.rss"] = Response(
        rss("Wire RSS", [
            Item("w-1", "Nippon Steel weighs new offer for U.S. Steel plants",
                 "https://news.example/a?utm_source=rss",
                 "Nippon Steel is weighing a fresh proposal to invest in Pennsylvania "
                 "mills, executives told shareholders in Osaka on Thursday.", fresh),
            Item("w-2", "Deal fallout: Japan's minister rebukes Washington",
                 "https://news.example/b", seed_paragraphs(4), fresh),
            Item("w-3", "Local bakery wins regional bread contest", "https://news.example/c",
                 "A family bakery took first prize for its sourdough loaf.", fresh),
        ]),
        headers={"content-type": "application/rss+xml"},
    )  # fmt: skip
    feeds.routes["/wire2.atom"] = Response(
        atom("Markets Atom", [
            Item("urn:m-1", "U.S. Steel shares climb on Tokyo visit", "https://markets.example/1",
                 "Shares in U.S. Steel rose after the Japanese prime minister said talks "
                 "with Washington on steel investment would continue next month.", fresh),
            Item("urn:m-2", "Nippon Steel offer: what it means for mills",
                 "https://news.example/a?utm_medium=partner",
                 "Markets reprint of the wire report on the new offer.", fresh),
        ]),
        headers={"content-type": "application/atom+xml"},
    )  # fmt: skip
    feeds.routes["/broken"] = Response(b"oops", 500)


@pytest.fixture
def setup(
    database_url: str,
    tmp_path: Path,
    feed_server: LocalServer,
    receiver: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    """Settings in the environment, feeds published, one watchlist `nippon-steel`."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
        "WIREWATCH_SEEDS_DIR": str(REPO / "seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_LOG_FORMAT": "json",
        "WIREWATCH_LOG_LEVEL": "ERROR",
        "WIREWATCH_RETRY_SCHEDULE": "",
        "HOOK_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "watchlists").mkdir()
    publish(feed_server)
    receiver.routes[HOOK_PATH] = Response(b"ok", 200)
    found = Setup(database_url, tmp_path, feed_server, receiver)
    found.write_watchlist("nippon-steel", '"Nippon Steel" OR "U.S. Steel"')
    yield found
