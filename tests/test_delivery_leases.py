"""Replicas share destinations through leases: one sender per destination at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

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
from worker.store import leases


@pytest.fixture
def worker_on(database_url: str, tmp_path: Path) -> Iterator[tuple[Worker, FakeClock]]:
    """A worker with a fake clock on the test database, closed afterwards."""
    clock = FakeClock()
    worker = make_worker(database_url, tmp_path, clock, timeout=2.0)
    yield worker, clock
    worker.close()


def test_destination_held_by_another_replica_is_skipped_until_its_lease_expires(
    worker_on: tuple[Worker, FakeClock], tmp_path: Path, receiver: LocalServer
) -> None:
    """A destination leased elsewhere gets nothing from us; the other destination does."""
    busy, free = Sink(), Sink()
    receiver.routes["/busy"], receiver.routes["/free"] = busy, free
    hooks = [(receiver.url("/busy"), "json"), (receiver.url("/free"), "json")]
    write_watchlist(tmp_path / "watchlists", "steel", hooks)
    worker, clock = worker_on
    worker.registry.refresh()
    busy_ids, free_ids = seed(worker, 2)
    busy_key = worker.registry.watchlists[0].webhooks[0].key
    with worker.sessions.begin() as session:
        assert leases.claim(
            session, f"deliver:{busy_key}", "other-replica", timedelta(seconds=60), clock()
        )

    deliver(worker)
    assert busy.seen == []
    assert free.accepted == free_ids

    clock.advance(61)
    deliver(worker)
    assert busy.accepted == busy_ids


def test_lease_is_released_after_a_pass(
    worker_on: tuple[Worker, FakeClock], tmp_path: Path, receiver: LocalServer
) -> None:
    """After our pass, no `deliver:` lease is left held, so another replica can send next."""
    receiver.routes["/a"] = Sink()
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_on
    worker.registry.refresh()
    seed(worker, 1)
    deliver(worker)
    key = worker.registry.watchlists[0].webhooks[0].key
    with worker.sessions() as session:
        assert leases.holder(session, f"deliver:{key}", clock()) is None
