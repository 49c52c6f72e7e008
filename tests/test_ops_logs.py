"""Logs name feeds and deliveries with ids and durations, and never a webhook token or secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response
from worker.log import JsonFormatter, redact_url, scrub

SECRET = "whsec_S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tAA"
TOKEN = "XoXb9TokenTokenToken42Zz"


def test_redact_url_hides_the_token_wherever_it_appears() -> None:
    """A registered webhook URL's token is scrubbed even when it is logged on its own."""
    redact_url(f"https://hooks.example/services/T01/B02/{TOKEN}?sig=abcdefgh12345678")
    assert TOKEN not in scrub(f"posting to .../{TOKEN} failed")
    assert "abcdefgh12345678" not in scrub("sig=abcdefgh12345678")
    assert scrub("wirewatch.pipeline services") == "wirewatch.pipeline services"


def test_json_lines_carry_the_extra_fields() -> None:
    """A JSON log line holds the message and its ids and durations as fields."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("wirewatch.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # independent of the root level other tests leave behind
    try:
        logger.warning("feed polled", extra={"feed_id": 3, "duration_ms": 12.5})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    line = json.loads(stream.getvalue())
    assert (line["msg"], line["feed_id"], line["duration_ms"]) == ("feed polled", 3, 12.5)


@pytest.mark.slow
def test_failing_deliveries_log_no_url_token_or_secret(
    tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> None:
    """A run whose deliveries fail logs the failures but neither the URL token nor the secret."""
    published = datetime.now(UTC) - timedelta(minutes=5)
    feed_server.routes["/f.rss"] = Response(
        rss(
            "F", [Item("1", "Nippon Steel news", "https://x.example/1", "Nippon Steel.", published)]
        )
    )
    path = f"/services/T01/B02/{TOKEN}"
    receiver.routes[path] = Response(f"bad token {TOKEN}".encode(), 500)
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "w.yaml").write_text(
        "name: w\nquery: '\"Nippon Steel\"'\n"
        f"feeds: [{feed_server.url('/f.rss')}]\n"
        "schedule: '0 8 * * *'\ntimezone: UTC\n"
        f"webhooks:\n  - url: {receiver.url(path)}\n    format: json\n    secret: ${{HOOK}}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WIREWATCH_WATCHLISTS_DIR": str(watchlists),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_LOG_FORMAT": "json",
        "WIREWATCH_LOG_LEVEL": "DEBUG",
        "WIREWATCH_RETRY_SCHEDULE": "0",
        "HOOK": SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--once"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert receiver.received(path), "the delivery was never attempted"
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    polled = [line for line in lines if line["msg"] == "feed polled"]
    assert polled
    assert {"feed_id", "duration_ms"} <= set(polled[0])
    assert TOKEN not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout
    assert receiver.url(path) not in result.stderr
