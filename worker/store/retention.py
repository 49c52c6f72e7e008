"""Retention: delete old stories, matches and deliveries, and what hangs off them.

What is pruned, each by its own age setting:

- deliveries that are finished (delivered, failed, dead, disabled) and older than
  `deliveries_days`, with their attempts; then the digests left without a delivery;
- matches no longer queued (digested, backlog, suppressed) older than `matches_days`,
  unless a pending delivery still carries them;
- stories first seen more than `stories_days` ago, with their shingles, unless a match
  of theirs is still queued or a pending delivery still carries them.

Seed documents are never touched. Rows go in batches, so a large first prune does not
hold one long transaction; each batch is committed by the caller's session factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Exists, and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.dedup.decide import DocRef
from worker.dedup.sql_index import delete_shingle_rows
from worker.store import leases, outbox
from worker.store.tables import Delivery, DeliveryAttempt, DigestRow, MatchRow, Story

BATCH = 500


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many days each kind of row is kept."""

    stories_days: int = 90
    matches_days: int = 90
    deliveries_days: int = 30


@dataclass(frozen=True, slots=True)
class PruneReport:
    """How many rows of each kind were deleted."""

    stories: int = 0
    matches: int = 0
    deliveries: int = 0
    digests: int = 0
    leases: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by table name."""
        return {
            "stories": self.stories,
            "matches": self.matches,
            "deliveries": self.deliveries,
            "digests": self.digests,
            "leases": self.leases,
        }


def _pending_for_digest(digest_id: ColumnElement[str | None]) -> Exists:
    """True where a pending delivery still carries the digest `digest_id`."""
    return exists().where(Delivery.digest_id == digest_id, Delivery.status == outbox.PENDING)


def prune(sessions: sessionmaker[Session], now: datetime, policy: RetentionPolicy) -> PruneReport:
    """Delete what `policy` says is too old at `now`; never seeds, never pending work."""
    deliveries = _batched(sessions, lambda s: _prune_deliveries(s, now, policy))
    digests = _batched(sessions, lambda s: _prune_digests(s, now, policy))
    matches = _batched(sessions, lambda s: _prune_matches(s, now, policy))
    stories = _batched(sessions, lambda s: _prune_stories(s, now, policy))
    with sessions.begin() as session:
        expired = leases.prune_expired(session, now)
    return PruneReport(stories, matches, deliveries, digests, expired)


def _batched(sessions: sessionmaker[Session], step: Callable[[Session], int]) -> int:
    total = 0
    while True:
        with sessions.begin() as session:
            done = step(session)
        total += done
        if done < BATCH:
            return total


def _prune_deliveries(session: Session, now: datetime, policy: RetentionPolicy) -> int:
    cutoff = now - timedelta(days=policy.deliveries_days)
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.status != outbox.PENDING, Delivery.created_at < cutoff)
            .limit(BATCH)
        )
    )
    if ids:
        session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
        session.execute(delete(Delivery).where(Delivery.id.in_(ids)))
    return len(ids)


def _prune_digests(session: Session, now: datetime, policy: RetentionPolicy) -> int:
    cutoff = now - timedelta(days=policy.deliveries_days)
    ids = list(
        session.scalars(
            select(DigestRow.id)
            .where(DigestRow.created_at < cutoff)
            .where(~exists().where(Delivery.digest_id == DigestRow.id))
            .limit(BATCH)
        )
    )
    if ids:
        session.execute(update(MatchRow).where(MatchRow.digest_id.in_(ids)).values(digest_id=None))
        session.execute(delete(DigestRow).where(DigestRow.id.in_(ids)))
    return len(ids)


def _prune_matches(session: Session, now: datetime, policy: RetentionPolicy) -> int:
    cutoff = now - timedelta(days=policy.matches_days)
    ids = list(
        session.scalars(
            select(MatchRow.id)
            .where(MatchRow.status != outbox.QUEUED, MatchRow.created_at < cutoff)
            .where(~_pending_for_digest(MatchRow.digest_id.expression))
            .limit(BATCH)
        )
    )
    if ids:
        session.execute(delete(MatchRow).where(MatchRow.id.in_(ids)))
    return len(ids)


def _prune_stories(session: Session, now: datetime, policy: RetentionPolicy) -> int:
    cutoff = now - timedelta(days=policy.stories_days)
    held = exists().where(
        MatchRow.story_id == Story.id,
        or_(MatchRow.status == outbox.QUEUED, _pending_for_digest(MatchRow.digest_id.expression)),
    )
    ids = list(
        session.scalars(
            select(Story.id).where(and_(Story.first_seen_at < cutoff, ~held)).limit(BATCH)
        )
    )
    if ids:
        connection = session.connection()
        for story_id in ids:
            delete_shingle_rows(connection, DocRef("story", story_id))  # row deleted below
        session.execute(delete(MatchRow).where(MatchRow.story_id.in_(ids)))
        session.execute(delete(Story).where(Story.id.in_(ids)))
    return len(ids)
