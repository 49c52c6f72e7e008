"""SIGTERM lets the poll in flight finish, gives the leases back, and the next start carries on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response
from worker.store.db import create_db_engine, session_factory
from worker.store.tables import Feed

pytestmark = pytest.mark.slow


def start(tmp_path: Path, feed_server: LocalServer, timeout: float) -> subprocess.Popen[str]:
    """`wirewatch run` on a SQLite file, following one slow feed."""
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir(exist_ok=True)
    (watchlists / "w.yaml").write_text(
        f"name: w\nquery: steel\nfeeds: [{feed_server.url('/slow.rss')}]\n"
        "schedule: '0 8 * * *'\ntimezone: UTC\n"
        "webhooks:\n  - url: https://hooks.example/x\n    format: json\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WIREWATCH_WATCHLISTS_DIR": str(watchlists),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "no-seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_LOG_FORMAT": "json",
        "WIREWATCH_PARSE_WORKERS": "0",
        "WIREWATCH_SHUTDOWN_TIMEOUT_SECONDS": str(timeout),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def terminate_mid_poll(
    process: subprocess.Popen[str], feed_server: LocalServer, polls: int
) -> tuple[float, str]:
    """Wait until poll number `polls` is in flight, SIGTERM; seconds to exit, and stderr."""
    deadline = time.monotonic() + 30
    while len(feed_server.received("/slow.rss")) < polls and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    assert len(feed_server.received("/slow.rss")) == polls
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return time.monotonic() - sent, stderr


def feed_row(tmp_path: Path) -> Feed:
    """The feed's row, read after the worker exited."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with session_factory(engine).begin() as session:
            return session.scalars(select(Feed)).one()
    finally:
        engine.dispose()


def serve_slow(feed_server: LocalServer, delay: float) -> None:
    """A feed that takes `delay` seconds to answer."""
    item = Item(
        "1", "steel", "https://x.example/1", "steel", datetime.now(UTC) - timedelta(hours=1)
    )
    feed_server.routes["/slow.rss"] = Response(rss("Slow", [item]), delay=delay)


def test_sigterm_waits_for_the_poll_in_flight(tmp_path: Path, feed_server: LocalServer) -> None:
    """A poll under way when SIGTERM arrives completes and is recorded; the lease is released."""
    serve_slow(feed_server, 2.0)
    took, stderr = terminate_mid_poll(start(tmp_path, feed_server, 20), feed_server, 1)
    assert "wirewatch stopped" in stderr
    assert took >= 1.0
    feed = feed_row(tmp_path)
    assert feed.last_success_at is not None
    assert feed.lease_owner is None


def test_overrunning_poll_is_cut_off_and_picked_up_next_start(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    """A poll longer than the timeout is abandoned, and the next start polls that feed at once."""
    serve_slow(feed_server, 8.0)
    process = start(tmp_path, feed_server, 1)
    took, stderr = terminate_mid_poll(process, feed_server, 1)
    assert process.returncode == 1
    assert took < 6
    assert "did not finish in time" in stderr
    assert feed_row(tmp_path).lease_owner is None

    serve_slow(feed_server, 0)
    again = start(tmp_path, feed_server, 5)
    _, stderr = terminate_mid_poll(again, feed_server, 2)
    assert again.returncode == 0, stderr
