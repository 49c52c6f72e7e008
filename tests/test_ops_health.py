"""The health endpoint answers liveness, readiness and Prometheus metrics over real HTTP."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_run_once import SECRET, write_watchlist
from tests.feedgen import Item, rss
from tests.servers import LocalServer, Response
from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.ops.health import Probe, readiness
from worker.schedule import Service
from worker.store.db import upgrade

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def get(url: str) -> tuple[int, str]:
    """GET `url`; the status and body, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def make_worker(tmp_path: Path, feed_server: LocalServer, receiver: LocalServer) -> Worker:
    """A worker on a SQLite file, following one local feed, delivering to the receiver."""
    published = datetime.now(UTC) - timedelta(minutes=5)
    feed_server.routes["/f.rss"] = Response(
        rss(
            "F", [Item("1", "Nippon Steel news", "https://x.example/1", "Nippon Steel.", published)]
        )
    )
    receiver.routes["/hook"] = Response(b"", 204)
    write_watchlist(tmp_path / "watchlists", [feed_server.url("/f.rss")], receiver.url("/hook"))
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'w.db'}",
        watchlists_dir=tmp_path / "watchlists",
        seeds_dir=tmp_path / "no-seeds",
        allow_hosts=["127.0.0.1"],
        parse_workers=0,
        tick_seconds=0.3,
    )
    worker = build_worker(settings, env={"HOOK_SECRET": SECRET})
    upgrade(worker.engine)
    return worker


@pytest.fixture
def running(
    tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> Iterator[tuple[Service, str]]:
    """A service running in a thread with its health endpoint on a free port."""
    worker = make_worker(tmp_path, feed_server, receiver)
    service = Service(worker, shutdown_timeout=10)
    base = f"http://127.0.0.1:{service.start_health(0).port}"
    thread = threading.Thread(target=service.start, kwargs={"install_signals": False})
    thread.start()
    try:
        yield service, base
    finally:
        service.stop()
        thread.join(30)
        worker.close()


def wait_ready(base: str) -> tuple[int, str]:
    """Poll `/readyz` until it says 200 or 20 seconds pass."""
    deadline = time.monotonic() + 20
    answer = get(base + "/readyz")
    while answer[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = get(base + "/readyz")
    return answer


def test_healthz_and_readyz_answer_200_when_running(running: tuple[Service, str]) -> None:
    """A running worker is alive and, once a cycle finished, ready."""
    _, base = running
    assert get(base + "/healthz") == (200, "ok\n")
    status, body = wait_ready(base)
    assert status == 200, body
    assert '"ready": true' in body


def test_metrics_count_polls_and_new_stories(running: tuple[Service, str]) -> None:
    """After a cycle, `/metrics` shows the feed poll, its status and the new story."""
    service, base = running
    wait_ready(base)
    deadline = time.monotonic() + 20
    while service.last_cycle_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    status, body = get(base + "/metrics")
    assert status == 200
    assert 'wirewatch_feeds_polled_total{status="200"}' in body
    assert 'wirewatch_stories_total{outcome="new"}' in body
    assert "wirewatch_cycle_duration_seconds_count" in body
    assert "wirewatch_delivery_latency_seconds_bucket" in body


def test_readyz_is_503_before_the_scheduler_runs(
    tmp_path: Path, feed_server: LocalServer, receiver: LocalServer
) -> None:
    """A worker whose scheduler is not running answers 503 and says why."""
    worker = make_worker(tmp_path, feed_server, receiver)
    service = Service(worker)
    server = service.start_health(0)
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/readyz")
        assert status == 503
        assert "scheduler not running" in body
        assert get(f"http://127.0.0.1:{server.port}/nope")[0] == 404
    finally:
        server.stop()
        worker.close()


def test_readiness_names_each_problem() -> None:
    """An unreachable database and a stale last cycle are each reported."""
    probe = Probe(
        database_ok=False,
        scheduler_running=True,
        last_cycle_at=NOW - timedelta(minutes=10),
        started_at=NOW - timedelta(hours=1),
    )
    problems = readiness(probe, NOW, timedelta(minutes=2))
    assert problems[0] == "database unreachable"
    assert problems[1].startswith("no cycle finished since")
    fresh = Probe(True, True, NOW - timedelta(seconds=30), NOW - timedelta(hours=1))
    assert readiness(fresh, NOW, timedelta(minutes=2)) == []


def test_a_new_worker_is_ready_before_its_first_cycle() -> None:
    """A worker that just started counts as ready until the grace period ends."""
    probe = Probe(True, True, None, NOW - timedelta(seconds=10))
    assert readiness(probe, NOW, timedelta(minutes=2)) == []
    assert readiness(probe, NOW + timedelta(minutes=5), timedelta(minutes=2)) != []
