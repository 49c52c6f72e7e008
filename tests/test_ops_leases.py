"""Leases let replicas share work: one holder at a time, expiry on death, feed claiming."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from worker.store import feeds, leases
from worker.store.db import create_db_engine, session_factory, upgrade

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database's session factory."""
    engine = create_db_engine(database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def claim(sessions: sessionmaker[Session], owner: str, now: datetime = NOW) -> bool:
    """Claim the lease `job` in a transaction of its own."""
    with sessions.begin() as session:
        return leases.claim(session, "job", owner, TTL, now)


def test_second_owner_is_refused_while_the_lease_holds(sessions: sessionmaker[Session]) -> None:
    """Only the first replica gets a free lease; the second is told no."""
    assert claim(sessions, "a")
    assert not claim(sessions, "b")
    with sessions.begin() as session:
        assert leases.holder(session, "job", NOW) == "a"


def test_holder_renews_its_own_lease(sessions: sessionmaker[Session]) -> None:
    """The holder may claim again (a renewal) before the lease expires."""
    assert claim(sessions, "a")
    assert claim(sessions, "a", NOW + timedelta(minutes=1))


def test_lease_of_a_dead_holder_expires(sessions: sessionmaker[Session]) -> None:
    """A lease nobody renewed is free once its time is up."""
    assert claim(sessions, "a")
    assert claim(sessions, "b", NOW + TTL)


def test_release_frees_the_lease_for_others(sessions: sessionmaker[Session]) -> None:
    """After the holder releases, another replica gets the lease at once."""
    assert claim(sessions, "a")
    with sessions.begin() as session:
        assert not leases.release(session, "job", "b")
        assert leases.release(session, "job", "a")
    assert claim(sessions, "b")


def test_claimed_feeds_are_not_handed_out_twice(sessions: sessionmaker[Session]) -> None:
    """Two replicas claiming due feeds at once split them; none is given to both."""
    urls = [f"https://feeds.example/{n}" for n in range(4)]
    with sessions.begin() as session:
        feeds.ensure_feeds(session, urls)
        feeds.ensure_feeds(session, urls)  # a second replica racing: no error, no duplicates
    with sessions.begin() as session:
        first = feeds.claim_due_feeds(session, urls, NOW, "a", TTL)
    with sessions.begin() as session:
        second = feeds.claim_due_feeds(session, urls, NOW, "b", TTL)
    assert len(first) == 4
    assert second == []
    with sessions.begin() as session:
        later = feeds.claim_due_feeds(session, urls, NOW + TTL, "b", TTL)
    assert {f.url for f in later} == set(urls)


def test_release_all_gives_back_named_and_feed_leases(sessions: sessionmaker[Session]) -> None:
    """A clean shutdown releases every lease of the process, so others pick up at once."""
    urls = ["https://feeds.example/a"]
    assert claim(sessions, "a")
    with sessions.begin() as session:
        feeds.ensure_feeds(session, urls)
        assert feeds.claim_due_feeds(session, urls, NOW, "a", TTL)
    with sessions.begin() as session:
        assert leases.release_all(session, "a") == 2
    assert claim(sessions, "b")
    with sessions.begin() as session:
        assert feeds.claim_due_feeds(session, urls, NOW, "b", TTL)
