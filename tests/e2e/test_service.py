"""The long-running `wirewatch run` (as compose runs it) polls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import worker_env
from tests.e2e.test_run_once import SECRET, write_watchlist
from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_service_polls_and_stops_on_signal(
    database_url: str, tmp_path: Path, feed_server: LocalServer, receiver: LocalServer,
    signum: signal.Signals,
) -> None:  # fmt: skip
    """`wirewatch run` upgrades the database, polls the feeds, and exits 0 on a signal."""
    now = datetime.now(UTC)
    feed_server.routes["/f.rss"] = Response(
        rss("F", [Item("1", "Nippon Steel news", "https://x.example/1", "Nippon Steel.", now)])
    )
    receiver.routes["/hook"] = Response(b"", 204)
    write_watchlist(tmp_path / "watchlists", [feed_server.url("/f.rss")], receiver.url("/hook"))
    env = worker_env(database_url, tmp_path / "watchlists", HOOK_SECRET=SECRET)
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not feed_server.received("/f.rss") and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.2)
        assert feed_server.received("/f.rss"), "the service never polled the feed"
        time.sleep(timedelta(seconds=1).total_seconds())
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "wirewatch stopped" in stderr
