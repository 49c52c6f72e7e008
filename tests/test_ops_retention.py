"""Retention deletes old stories, matches and deliveries, but never seeds or pending work."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.dedup import DocRef
from worker.dedup.sql_index import add_shingles
from worker.store import outbox
from worker.store.db import create_db_engine, session_factory, upgrade
from worker.store.retention import RetentionPolicy, prune
from worker.store.tables import (
    Delivery,
    DeliveryAttempt,
    DigestRow,
    Feed,
    MatchRow,
    SeedDocument,
    Shingle,
    Story,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)
POLICY = RetentionPolicy(stories_days=90, matches_days=90, deliveries_days=30)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database's session factory."""
    engine = create_db_engine(database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def add_story(session: Session, guid: str, seen: datetime, match: str | None = None) -> int:
    """A story first seen at `seen` with two shingles, and a match in status `match`."""
    feed = session.scalar(select(Feed)) or Feed(url="https://f.example/rss")
    session.add(feed)
    session.flush()
    story = Story(
        feed_id=feed.id, guid=guid, title=guid, summary="", published_at=seen,
        first_seen_at=seen, content_hash=guid, shingle_count=2,
    )  # fmt: skip
    session.add(story)
    session.flush()
    add_shingles(session.connection(), DocRef("story", story.id), (1, 2))
    if match is not None:
        session.add(
            MatchRow(story_id=story.id, watchlist="w", matched=[], hits=[], status=match,
                     created_at=seen)
        )  # fmt: skip
    return story.id


def add_digest(session: Session, story_id: int, status: str, when: datetime) -> str:
    """A digest of the story's match, with one delivery in `status` and one attempt."""
    digest_id = f"dg_{story_id}"
    session.add(DigestRow(id=digest_id, watchlist="w", created_at=when, story_count=1, content={}))
    session.flush()
    for match in session.scalars(select(MatchRow).where(MatchRow.story_id == story_id)):
        match.digest_id = digest_id
    session.add(
        Delivery(
            id=f"msg_{story_id}", digest_id=digest_id, watchlist="w", destination="dst_x",
            url="https://hooks.example/x", format="json", part=1, parts=1, body="{}",
            content_type="application/json", status=status, attempts=1, created_at=when,
        )
    )  # fmt: skip
    session.flush()
    session.add(DeliveryAttempt(delivery_id=f"msg_{story_id}", attempted_at=when, latency_ms=1.0))
    return digest_id


def count(sessions: sessionmaker[Session], table: type[object]) -> int:
    """Rows in `table`."""
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_old_finished_stories_go_with_their_shingles(sessions: sessionmaker[Session]) -> None:
    """An old digested story, its match, delivery and shingles are pruned; a new one stays."""
    with sessions.begin() as session:
        old = add_story(session, "old", OLD, outbox.DIGESTED)
        add_digest(session, old, outbox.DELIVERED, OLD)
        add_story(session, "new", NOW - timedelta(days=1), outbox.DIGESTED)
    report = prune(sessions, NOW, POLICY)
    assert (report.stories, report.matches, report.deliveries, report.digests) == (1, 1, 1, 1)
    with sessions.begin() as session:
        assert list(session.scalars(select(Story.guid))) == ["new"]
        assert session.scalar(select(func.count()).select_from(Shingle)) == 2
    assert count(sessions, DeliveryAttempt) == 0


def test_queued_stories_are_kept(sessions: sessionmaker[Session]) -> None:
    """A story still waiting for its digest is never pruned, however old."""
    with sessions.begin() as session:
        add_story(session, "waiting", OLD, outbox.QUEUED)
    assert prune(sessions, NOW, POLICY).stories == 0
    assert count(sessions, Story) == 1


def test_stories_of_pending_deliveries_are_kept(sessions: sessionmaker[Session]) -> None:
    """A story whose digest is still being delivered stays, with its match and digest."""
    with sessions.begin() as session:
        story = add_story(session, "sending", OLD, outbox.DIGESTED)
        add_digest(session, story, outbox.PENDING, OLD)
    report = prune(sessions, NOW, POLICY)
    assert report.as_dict() == {
        "stories": 0, "matches": 0, "deliveries": 0, "digests": 0, "leases": 0,
    }  # fmt: skip
    assert count(sessions, Delivery) == 1


def test_seed_documents_are_never_pruned(sessions: sessionmaker[Session]) -> None:
    """Seeds imported long ago, and their shingles, survive any prune."""
    with sessions.begin() as session:
        session.add(
            SeedDocument(path="a.txt", title="a", text="a", content_hash="a", file_hash="a",
                         shingle_count=1, imported_at=OLD - timedelta(days=900))
        )  # fmt: skip
        session.flush()
        add_shingles(session.connection(), DocRef("seed", 1), (7,))
    prune(sessions, NOW, RetentionPolicy(1, 1, 1))
    assert count(sessions, SeedDocument) == 1
    assert count(sessions, Shingle) == 1


def test_db_prune_command_reports_counts(tmp_path: Path) -> None:
    """`wirewatch db prune` runs retention now and prints what it deleted."""
    result = subprocess.run(
        [sys.executable, "-m", "worker", "db", "prune"],
        env={"WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "PATH": "/usr/bin"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "pruned: 0 stories, 0 matches, 0 deliveries, 0 digests, 0 leases"
    )
