"""PostgreSQL restarting under a running worker: it reconnects, retries, and loses nothing."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL
from tests.e2e.test_replicas import ChangingFeeds, delivered_stories, start, stop, worker_env
from tests.e2e.test_replicas import write_watchlist as write_minutely_watchlist
from tests.servers import LocalServer, Received, Response

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

CLUSTERS = Path("/etc/postgresql")


def pg_ctl(action: str) -> None:
    """Run `pg_ctlcluster <version> main <action>` on the local server."""
    version = sorted(p.name for p in CLUSTERS.iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def pg_ready() -> bool:
    """True when the local server accepts connections."""
    probe = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False, timeout=10)
    return probe.returncode == 0


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on a server this test may restart, left running afterwards."""
    if shutil.which("pg_ctlcluster") is None or not CLUSTERS.is_dir():
        pytest.skip("needs a local PostgreSQL cluster managed by pg_ctlcluster")
    name = f"wirewatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if not pg_ready():
            pg_ctl("start")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_worker_survives_a_postgresql_restart_mid_cycle(
    pg_url: str, tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> None:
    """A restart while a poll is in flight costs a retry, not a story, and never a double."""
    feeds = ChangingFeeds(feed_server, 3)
    slow = feed_server.routes[feeds.paths[0]]
    assert callable(slow)

    def slowly(request: Received) -> Response:
        answer = slow(request)
        answer.delay = 3.0  # the restart happens while this poll waits for its body
        return answer

    feed_server.routes[feeds.paths[0]] = slowly
    receiver.routes["/hook"] = Response(b"", 204)
    write_minutely_watchlist(tmp_path / "watchlists", feeds.urls(), receiver.url("/hook"))
    log = tmp_path / "worker.log"
    process = start(worker_env(pg_url, tmp_path), tmp_path, log)
    try:
        deadline = time.monotonic() + 60
        while not feeds.polls[feeds.paths[0]] and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        pg_ctl("restart")
        deadline = time.monotonic() + 60
        while not pg_ready() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(12)  # one more poll of every feed after the restart
        feeds.frozen = True
        boundary = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        while datetime.now(UTC) < boundary + timedelta(seconds=15):
            assert process.poll() is None, log.read_text()[-3000:]
            if feeds.published <= set(delivered_stories(receiver, "/hook")[1]):
                break
            time.sleep(0.5)
    finally:
        code = stop(process)
    assert code == 0, log.read_text()[-3000:]
    by_id, by_story = delivered_stories(receiver, "/hook")
    assert feeds.published <= set(by_story), log.read_text()[-3000:]
    assert max(by_story.values()) == 1
    assert max(by_id.values()) == 1
    assert all(len(times) >= 2 for times in feeds.polls.values())
