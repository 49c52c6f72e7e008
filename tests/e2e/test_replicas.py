"""Three `wirewatch run` replicas on one PostgreSQL database share the work, even when one dies.

The feed server logs every request, so a feed polled twice within one interval shows;
the receiver counts messages by `webhook-id` and stories by id, so a doubled digest shows.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import _pg_database
from tests.feedgen import Item, rss
from tests.servers import LocalServer, Received, Response

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
POLL_SECONDS = 10


class ChangingFeeds:
    """Feeds that publish a new matching story on every request, and log when each was asked."""

    def __init__(self, server: LocalServer, count: int) -> None:
        self.server = server
        self.frozen = False  # True: serve what was published, publish nothing new
        self.polls: dict[str, list[float]] = {}
        self.published: set[str] = set()
        self._items: dict[str, list[Item]] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.paths = [f"/feed{n}.rss" for n in range(count)]
        for path in self.paths:
            self.polls[path] = []
            self._items[path] = []
            server.routes[path] = self._serve

    def _serve(self, request: Received) -> Response:
        path = request.path.split("?")[0]
        with self._lock:
            self.polls[path].append(time.monotonic())
            if self.frozen:
                return Response(rss(f"Feed {path}", self._items[path]))
            n = next(self._counter)
            words = " ".join(uuid.uuid4().hex[:8] for _ in range(30))
            guid = f"{path}#{n}"
            title = f"Nippon Steel update {n} {words[:17]}"
            summary = f"Nippon Steel story {n}: {words}"
            when = datetime.now(UTC) - timedelta(minutes=1)
            item = Item(guid, title, f"https://news.example/{n}", summary, when)
            self._items[path] = [item, *self._items[path]][:20]
            self.published.add(item.link)
            body = rss(f"Feed {path}", self._items[path])
        return Response(body, headers={"content-type": "application/rss+xml"})

    def urls(self) -> list[str]:
        """The absolute URLs of the feeds."""
        return [self.server.url(path) for path in self.paths]


def write_watchlist(directory: Path, feeds: list[str], hook: str) -> None:
    """A watchlist matching every story of the feeds, with a digest every minute."""
    directory.mkdir(exist_ok=True)
    (directory / "all.yaml").write_text(
        "name: all\nquery: '\"Nippon Steel\"'\n"
        f"feeds: [{', '.join(feeds)}]\n"
        "schedule: '* * * * *'\ntimezone: UTC\n"
        f"webhooks:\n  - url: {hook}\n    format: json\n    secret: ${{HOOK_SECRET}}\n",
        encoding="utf-8",
    )


def worker_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a replica: short interval and tick, JSON logs."""
    return {
        **os.environ,
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "no-seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_LOG_FORMAT": "json",
        "WIREWATCH_POLL_INTERVAL_SECONDS": str(POLL_SECONDS),
        "WIREWATCH_TICK_SECONDS": "1",
        "WIREWATCH_PARSE_WORKERS": "0",
        "WIREWATCH_DB_POOL_SIZE": "2",
        "HOOK_SECRET": SECRET,
        **extra,
    }


def start(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `wirewatch run`, its log going to a file."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "worker", "run"], env=env, cwd=cwd, stdout=sink, stderr=sink
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM a replica and wait for it; kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def delivered_stories(receiver: LocalServer, path: str) -> tuple[Counter[str], Counter[str]]:
    """Messages counted by webhook-id, and stories counted by guid link, as received."""
    by_id: Counter[str] = Counter()
    by_story: Counter[str] = Counter()
    for request in receiver.received(path):
        if request.headers.get("x-test-status", "200") != "200":
            continue
        by_id[request.headers["webhook-id"]] += 1
        for story in request.json()["stories"]:
            by_story[story["url"]] += 1
    return by_id, by_story


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    yield from _pg_database()


def test_replicas_share_feeds_and_digests(
    pg_url: str, tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> None:
    """No feed is polled twice in one interval and no digest arrives twice, though one dies."""
    feeds = ChangingFeeds(feed_server, 8)
    receiver.routes["/hook"] = Response(b"", 204)
    write_watchlist(tmp_path / "watchlists", feeds.urls(), receiver.url("/hook"))
    env = worker_env(pg_url, tmp_path)
    subprocess.run(
        [sys.executable, "-m", "worker", "db", "upgrade"], env=env, cwd=tmp_path,
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    logs = [tmp_path / f"replica{n}.log" for n in range(3)]
    replicas = [start(env, tmp_path, log) for log in logs]
    try:
        time.sleep(6)
        replicas[0].kill()  # SIGKILL: no clean shutdown, its leases must expire
        killed_at = datetime.now(UTC)
        boundary = killed_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while datetime.now(UTC) < boundary + timedelta(seconds=20):
            for process in replicas[1:]:
                assert process.poll() is None, logs[replicas.index(process)].read_text()
            time.sleep(0.5)
    finally:
        codes = [stop(process) for process in replicas]
    assert codes[1:] == [0, 0], [log.read_text()[-2000:] for log in logs]

    for path, times in feeds.polls.items():
        gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(times))]
        assert len(times) >= 2, path
        assert min(gaps) >= POLL_SECONDS * 0.9, (path, gaps)

    by_id, by_story = delivered_stories(receiver, "/hook")
    assert by_id, "no digest arrived"
    assert max(by_id.values()) == 1, "a message arrived twice"
    assert max(by_story.values()) == 1, "a story arrived in two digests"
