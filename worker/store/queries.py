"""Read-only queries (and two small updates) behind the operator commands.

Everything here runs in the caller's session; nothing commits. Rows come back as the
table models, since the commands only format them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from worker.store import outbox
from worker.store.tables import Base, Delivery, Feed, MatchRow, SeedDocument, Story


def list_deliveries(session: Session, status: str | None, limit: int) -> list[Delivery]:
    """The newest deliveries first, optionally only those with `status`."""
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.digest_id, Delivery.part)
    if status:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query.limit(limit)))


def reset_for_retry(session: Session, delivery_id: str, now: datetime) -> bool:
    """Make a delivery pending and due now, whatever its status; False if it is unknown."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    delivery.status = outbox.PENDING
    delivery.next_attempt_at = now
    delivery.lease_owner = None
    delivery.lease_until = None
    return True


def get_delivery(session: Session, delivery_id: str) -> Delivery | None:
    """One delivery by its id (the `webhook-id`)."""
    return session.get(Delivery, delivery_id)


@dataclass(frozen=True, slots=True)
class OtherDocument:
    """The document a story was found to duplicate or relate to."""

    kind: str  # "seed" | "story"
    id: int
    title: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class StoryDetail:
    """A story with its feed, its de-duplication partner, its cluster and its matches."""

    story: Story
    feed: Feed
    other: OtherDocument | None
    cluster: tuple[tuple[Story, Feed], ...]
    matches: tuple[MatchRow, ...]


def story_detail(session: Session, story_id: int) -> StoryDetail | None:
    """Everything `stories show` prints about one story; None if it is unknown."""
    row = session.execute(
        select(Story, Feed).join(Feed, Feed.id == Story.feed_id).where(Story.id == story_id)
    ).first()
    if row is None:
        return None
    story, feed = row[0], row[1]
    cluster_id = story.cluster_id if story.cluster_id is not None else story.id
    members = session.execute(
        select(Story, Feed)
        .join(Feed, Feed.id == Story.feed_id)
        .where((Story.cluster_id == cluster_id) | (Story.id == cluster_id))
        .where(Story.id != story.id)
        .order_by(Story.id)
    ).all()
    matches = session.scalars(
        select(MatchRow).where(MatchRow.story_id == story.id).order_by(MatchRow.watchlist)
    )
    return StoryDetail(
        story=story,
        feed=feed,
        other=_other_document(session, story.dup_of_kind, story.dup_of_id),
        cluster=tuple((member, member_feed) for member, member_feed in members),
        matches=tuple(matches),
    )


def _other_document(session: Session, kind: str | None, doc_id: int | None) -> OtherDocument | None:
    if kind is None or doc_id is None:
        return None
    if kind == "seed":
        seed = session.get(SeedDocument, doc_id)
        if seed is None:
            return OtherDocument("seed", doc_id, "(seed removed)")
        return OtherDocument("seed", doc_id, seed.title, seed.path)
    other = session.get(Story, doc_id)
    return OtherDocument("story", doc_id, other.title if other else "(story removed)")


def table_counts(session: Session) -> dict[str, int]:
    """The row count of every table of the schema, by table name."""
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = session.scalar(select(func.count()).select_from(table)) or 0
    return counts


def table_sizes(session: Session) -> dict[str, int]:
    """On PostgreSQL, the bytes each table takes with its indexes and TOAST; else empty."""
    if session.get_bind().dialect.name != "postgresql":
        return {}
    sizes: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        size = session.scalar(
            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": table.name}
        )
        sizes[table.name] = int(size or 0)
    return sizes


def sqlite_file(session: Session) -> Path | None:
    """The database file of a SQLite database (None for PostgreSQL or in-memory)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    database = bind.engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database)


def matched_story_ids(session: Session, watchlist: str) -> set[int]:
    """Ids of the stories that already have a match row for `watchlist` (any status)."""
    return set(session.scalars(select(MatchRow.story_id).where(MatchRow.watchlist == watchlist)))


def backfill_candidates(session: Session, since: datetime) -> list[tuple[Story, Feed]]:
    """Stories first seen since `since` that are not duplicates (of a seed or a story)."""
    rows = session.execute(
        select(Story, Feed)
        .join(Feed, Feed.id == Story.feed_id)
        .where(Story.first_seen_at >= since)
        .where(Story.dup_kind.is_(None) | (Story.dup_kind != "duplicate"))
        .order_by(Story.id)
    )
    return [(story, feed) for story, feed in rows]


def duplicate_count_since(session: Session, since: datetime) -> int:
    """How many stories first seen since `since` are duplicates."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Story)
            .where(Story.first_seen_at >= since, Story.dup_kind == "duplicate")
        )
        or 0
    )


def feeds_by_url(session: Session) -> Sequence[Feed]:
    """Every feed row, by URL."""
    return list(session.scalars(select(Feed).order_by(Feed.url)))
