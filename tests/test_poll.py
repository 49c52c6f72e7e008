"""Polling records each feed's health: validators, timestamps, failures, next poll."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.feedgen import Item, rss
from tests.servers import LocalServer, Received, Response
from worker import pipeline
from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.store.db import upgrade
from worker.store.tables import Feed

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def polling(
    database_url: str, tmp_path: Path, feed_server: LocalServer
) -> Iterator[tuple[Worker, Clock, LocalServer]]:
    """A worker watching one local feed, with a hand-moved clock."""
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x.yaml").write_text(
        f"name: x\nquery: steel\nschedule: '0 8 * * *'\nfeeds: [{feed_server.url('/f')}]\n"
    )
    clock = Clock()
    settings = load_settings(
        database_url=database_url,
        watchlists_dir=tmp_path / "w",
        allow_hosts=["127.0.0.1"],
        parse_workers=0,
        poll_interval_seconds=600,
    )
    worker = build_worker(settings, clock=clock, env={})
    upgrade(worker.engine)
    worker.registry.refresh()
    yield worker, clock, feed_server
    worker.close()


def feed_row(worker: Worker) -> Feed:
    """The one feed's row."""
    with worker.sessions() as session:
        return session.query(Feed).one()


def test_304_keeps_validators_and_schedules_the_next_poll(
    polling: tuple[Worker, Clock, LocalServer],
) -> None:
    """A 304 answer records a success, keeps the ETag, and moves next_poll_at past now."""
    worker, clock, server = polling
    body = rss("F", [Item("1", "Steel news", "https://x.example/1", "Steel.", START)])

    def answer(request: Received) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(b"", 304, {"etag": '"v1"'})
        return Response(body, 200, {"etag": '"v1"', "content-type": "application/rss+xml"})

    server.routes["/f"] = answer
    assert pipeline.poll_feeds(worker).stories_new == 1
    clock.now += timedelta(hours=1)
    report = pipeline.poll_feeds(worker)
    assert (report.feeds, report.not_modified, report.stories_new) == (1, 1, 0)
    row = feed_row(worker)
    assert row.etag == '"v1"'
    assert row.last_status == 304
    assert row.last_success_at == clock.now
    assert row.next_poll_at is not None and row.next_poll_at > clock.now
    assert server.received("/f")[-1].headers.get("if-none-match") == '"v1"'


def test_recovery_after_failures_resets_the_count(
    polling: tuple[Worker, Clock, LocalServer],
) -> None:
    """Two failed polls count up and back off; an unchanged success resets the count."""
    worker, clock, server = polling
    body = rss("F", [Item("1", "Steel news", "https://x.example/1", "Steel.", START)])
    server.routes["/f"] = Response(body, 200)
    pipeline.poll_feeds(worker)
    server.routes["/f"] = Response(b"down", 503)
    for _ in range(2):
        clock.now += timedelta(days=1)
        pipeline.poll_feeds(worker)
    failing = feed_row(worker)
    assert failing.consecutive_failures == 2
    assert failing.last_error_kind == "http_5xx"
    server.routes["/f"] = Response(body, 200)
    clock.now += timedelta(days=1)
    assert pipeline.poll_feeds(worker).not_modified == 1
    healed = feed_row(worker)
    assert (healed.consecutive_failures, healed.failing_since) == (0, None)
