"""Replicas share destinations through locks that die with their holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.servers import LocalServer
from tests.test_delivery_retries import (
    FakeClock,
    Sink,
    deliver,
    make_worker,
    seed,
    write_watchlist,
)
from worker.app import Worker
from worker.store.db import normalise_url
from worker.store.locks import named_locks


@pytest.fixture
def worker_on(database_url: str, tmp_path: Path) -> Iterator[tuple[Worker, FakeClock]]:
    """A worker with a fake clock on the test database, closed afterwards."""
    clock = FakeClock()
    worker = make_worker(database_url, tmp_path, clock, timeout=2.0)
    yield worker, clock
    worker.close()


def test_destination_locked_elsewhere_is_skipped_until_released(
    worker_on: tuple[Worker, FakeClock], tmp_path: Path, receiver: LocalServer
) -> None:
    """On PostgreSQL a destination another session holds gets nothing; the other one does."""
    worker, _ = worker_on
    if worker.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writing process per file (tests/test_ops_single.py)")
    busy, free = Sink(), Sink()
    receiver.routes["/busy"], receiver.routes["/free"] = busy, free
    hooks = [(receiver.url("/busy"), "json"), (receiver.url("/free"), "json")]
    write_watchlist(tmp_path / "watchlists", "steel", hooks)
    worker.registry.refresh()
    busy_ids, free_ids = seed(worker, 2)
    busy_key = worker.registry.watchlists[0].webhooks[0].key
    other = create_engine(normalise_url(str(worker.engine.url.render_as_string(False))))
    try:
        with named_locks(other) as held:
            assert held.try_acquire(f"deliver:{busy_key}")
            deliver(worker)
            assert busy.seen == []
            assert free.accepted == free_ids
        deliver(worker)
        assert busy.accepted == busy_ids
    finally:
        other.dispose()


HOLDER = """
import sys, time
from sqlalchemy import create_engine
from worker.store.locks import named_locks
with named_locks(create_engine(sys.argv[1])) as locks:
    assert locks.try_acquire("deliver:dst_x")
    print("held", flush=True)
    time.sleep(600)
"""


def test_lock_of_a_killed_holder_is_free_at_once(database_url: str) -> None:
    """A process killed with SIGKILL while holding a destination lock leaves it free."""
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite needs none")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    engine = create_engine(database_url)
    try:
        with named_locks(engine) as locks:
            assert not locks.try_acquire("deliver:dst_x")
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate()
        with named_locks(engine) as locks:
            assert locks.try_acquire("deliver:dst_x")
    finally:
        engine.dispose()
