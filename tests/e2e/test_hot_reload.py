"""A running `wirewatch run` picks up added and edited watchlist files without a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import worker_env
from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response

pytestmark = pytest.mark.slow


def watchlist(name: str, query: str, feed: str) -> str:
    """A watchlist file's text."""
    return f"name: {name}\nquery: '{query}'\nschedule: '0 8 * * *'\nfeeds: [{feed}]\n"


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Wait up to 60 s for `condition`, failing early if the worker died."""
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_added_file_is_polled_and_a_bad_edit_keeps_the_last_good_version(
    database_url: str, tmp_path: Path, feed_server: LocalServer
) -> None:
    """A new file's feed is polled; a broken edit is logged once and the old version runs on."""
    now = datetime.now(UTC)
    for path in ("/a.rss", "/b.rss"):
        feed_server.routes[path] = Response(
            rss(path, [Item(path, "Nippon Steel news", f"https://x.example{path}", "Steel.", now)])
        )
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "a.yaml").write_text(watchlist("a", "steel", feed_server.url("/a.rss")))
    env = worker_env(
        database_url,
        folder,
        WIREWATCH_TICK_SECONDS="1",
        WIREWATCH_POLL_INTERVAL_SECONDS="10",
        WIREWATCH_LOG_FORMAT="json",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: bool(feed_server.received("/a.rss")), process, "the first feed")
        (folder / "b.yaml").write_text(watchlist("b", "steel", feed_server.url("/b.rss")))
        (folder / "a.yaml").write_text(watchlist("a", "steel AND (", feed_server.url("/a.rss")))
        wait_for(lambda: bool(feed_server.received("/b.rss")), process, "the added feed")
        polls_of_a = len(feed_server.received("/a.rss"))
        wait_for(lambda: len(feed_server.received("/a.rss")) > polls_of_a, process, "a's next poll")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    errors = [line for line in lines if "a.yaml" in json.dumps(line) and line["level"] == "error"]
    assert len(errors) == 1, errors
