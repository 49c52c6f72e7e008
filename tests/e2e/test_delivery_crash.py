"""Kill `wirewatch run --once` with SIGKILL over and over while it runs; nothing is lost.

The outbox starts with digests already built, and a feed brings new matching stories,
so the kills land while polling, building the new digest and delivering. A slow
receiver (0.05-0.3 s per request, sometimes 500) de-duplicates on `webhook-id`. The
worker is killed at varied moments at least twenty times, then run to the end: every
message of every digest must have been accepted exactly once per id, in order per
destination, and every id the receiver saw must be one the outbox stored.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.feedgen import Item, rss
from tests.servers import LocalServer, Received, Response
from tests.test_delivery_retries import FakeClock, make_worker, seed, write_watchlist
from worker.store import outbox
from worker.store.tables import Delivery, MatchRow

pytestmark = pytest.mark.slow

DESTINATIONS = 3
DIGESTS = 16
KILLS = 20
STORIES = 5


@dataclass
class FlakyReceiver:
    """Answers slowly and sometimes 500; keeps the first acceptance of each id, in order."""

    rng: random.Random = field(default_factory=lambda: random.Random(7))
    accepted: dict[str, list[str]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Received) -> Response:
        msg_id = request.headers["webhook-id"]
        with self.lock:
            self.seen.append(msg_id)
            delay = self.rng.uniform(0.05, 0.3)
            if self.rng.random() < 0.15:
                return Response(b"try later", 500, delay=delay)
            first = self.accepted.setdefault(request.path, [])
            if msg_id not in first:
                first.append(msg_id)
        return Response(b"ok", 200, delay=delay)


def start(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start one `wirewatch run --once`."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--once"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_during_delivery_loses_and_doubles_nothing(
    database_url: str, tmp_path: Path, receiver: LocalServer, feed_server: LocalServer
) -> None:
    """Twenty SIGKILLs mid-run later, each message was accepted once per id, in order."""
    flaky = FlakyReceiver()
    paths = [f"/d{n}" for n in range(DESTINATIONS)]
    for path in paths:
        receiver.routes[path] = flaky
    now = datetime.now(UTC)
    stories = [
        Item(f"s-{n}", f"Steel output report {n}", f"https://news.example/{n}",
             f"Mill number {n} raised steel output this quarter.", now - timedelta(minutes=n))
        for n in range(STORIES)
    ]  # fmt: skip
    feed_server.routes["/steel.rss"] = Response(
        rss("Steel wire", stories), headers={"content-type": "application/rss+xml"}
    )
    hooks = [(receiver.url(p), "json") for p in paths]
    write_watchlist(tmp_path / "watchlists", "steel", hooks, [feed_server.url("/steel.rss")])
    worker = make_worker(database_url, tmp_path, FakeClock(now))
    seed(worker, DIGESTS)
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_RETRY_SCHEDULE": ",".join(["0"] * 60),
        "WIREWATCH_LOG_LEVEL": "ERROR",
    }
    moments = random.Random(11)
    kills = 0
    for round_number in range(KILLS * 2):
        if kills >= KILLS:
            break
        before = len(flaky.seen)
        process = start(env, tmp_path)
        if round_number % 2:  # some time after start: during start-up, build or delivery
            time.sleep(moments.uniform(0.2, 1.5))
        else:  # once a request is in flight, plus a little
            deadline = time.monotonic() + 10
            while len(flaky.seen) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(moments.uniform(0.0, 0.4))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= KILLS

    for _ in range(30):
        with worker.sessions() as session:
            left = session.scalars(select(Delivery).where(Delivery.status == outbox.PENDING))
            if not list(left):
                break
        assert start(env, tmp_path).wait(timeout=120) == 0

    with worker.sessions() as session:
        stored = {d.id: d.status for d in session.scalars(select(Delivery))}
        expected = [
            [d.id for d in session.scalars(select(Delivery).where(Delivery.url == url)
                                          .order_by(Delivery.created_at, Delivery.digest_id))]
            for url, _ in hooks
        ]  # fmt: skip
        matches = list(session.scalars(select(MatchRow)))
        feed_digests = {m.digest_id for m in matches}
    worker.close()
    assert set(stored.values()) == {outbox.DELIVERED}
    assert set(flaky.seen) <= set(stored)
    assert [flaky.accepted[path] for path in paths] == expected
    assert len(matches) == STORIES
    assert {m.status for m in matches} == {outbox.DIGESTED}
    assert len(feed_digests) == 1
    assert all(len(ids) == DIGESTS + 1 for ids in expected)
