"""The outbox: queued matches, digests and their deliveries.

A digest, its rendered messages (one delivery row per message and destination) and the
`digested` mark on its matches are written in one transaction, so a crash either loses
the whole digest build (the matches stay queued) or keeps all of it (the deliveries are
pending and will be sent, with their stored ids, after a restart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.orm import Session

from worker.digest_build import QueuedItem
from worker.models import Hit, Match
from worker.store.tables import (
    Delivery,
    DeliveryAttempt,
    Destination,
    DigestRow,
    Feed,
    MatchRow,
    Story,
)

QUEUED = "queued"
DIGESTED = "digested"
BACKLOG = "backlog"

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
FAILED = "failed"
DISABLED = "disabled"
MATCHES = cast(Table, MatchRow.__table__)


def record_match(session: Session, story_id: int, match: Match, status: str, now: datetime) -> None:
    """Store that a story matched a watchlist (queued for its digest, or backlog)."""
    session.add(
        MatchRow(
            story_id=story_id,
            watchlist=match.watchlist,
            matched=list(match.matched),
            hits=[{"term": h.term, "field": h.field, "snippet": h.snippet} for h in match.hits],
            status=status,
            created_at=now,
        )
    )


def record_matches(
    session: Session, matches: Sequence[tuple[int, Match, str]], now: datetime
) -> None:
    """`record_match` for many `(story_id, match, status)` at once, in one statement."""
    if not matches:
        return
    session.connection().execute(  # Core executemany: this runs for every feed body
        insert(MATCHES),
        [
            {
                "story_id": story_id,
                "watchlist": match.watchlist,
                "matched": list(match.matched),
                "hits": [
                    {"term": h.term, "field": h.field, "snippet": h.snippet} for h in match.hits
                ],
                "status": status,
                "created_at": now,
            }
            for story_id, match, status in matches
        ],
    )


def watchlists_with_queued(session: Session) -> list[str]:
    """Names of watchlists that have queued matches."""
    return list(
        session.scalars(select(MatchRow.watchlist).where(MatchRow.status == QUEUED).distinct())
    )


def queued_items(session: Session, watchlist: str) -> tuple[list[int], list[QueuedItem]]:
    """The queued match ids of a watchlist and the items of their clusters.

    Cluster members that are not queued themselves (duplicates folded into the cluster)
    come back with `queued=False`, so the digest can list them as "also reported by".
    """
    rows = session.execute(
        select(MatchRow, Story, Feed)
        .join(Story, Story.id == MatchRow.story_id)
        .join(Feed, Feed.id == Story.feed_id)
        .where(MatchRow.watchlist == watchlist, MatchRow.status == QUEUED)
        .order_by(MatchRow.id)
    ).all()
    match_ids = [match.id for match, _, _ in rows]
    items = [_item(story, feed, match) for match, story, feed in rows]
    clusters = {item.cluster_id for item in items}
    queued_ids = {item.story_id for item in items}
    if clusters:
        members = session.execute(
            select(Story, Feed)
            .join(Feed, Feed.id == Story.feed_id)
            .where(or_(Story.cluster_id.in_(clusters), Story.id.in_(clusters)))
        ).all()
        items.extend(
            _item(story, feed, None) for story, feed in members if story.id not in queued_ids
        )
    return match_ids, items


def _item(story: Story, feed: Feed, match: MatchRow | None) -> QueuedItem:
    hits = tuple(Hit(h["term"], h["field"], h["snippet"]) for h in (match.hits if match else []))
    return QueuedItem(
        story_id=story.id,
        cluster_id=story.cluster_id if story.cluster_id is not None else story.id,
        title=story.title,
        url=story.canonical_url or story.url or "",
        source=feed.title or feed.url,
        published=story.published_at,
        summary=story.summary,
        matched=tuple(match.matched) if match else (),
        hits=hits,
        queued=match is not None,
    )


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A rendered message for one destination, to be written to the outbox."""

    delivery_id: str
    destination: str
    url: str
    format: str
    part: int
    parts: int
    body: str
    content_type: str


def save_digest(
    session: Session,
    *,
    digest_id: str,
    watchlist: str,
    content: dict[str, object],
    story_count: int,
    match_ids: Sequence[int],
    messages: Sequence[OutgoingMessage],
    now: datetime,
) -> None:
    """Write the digest and its deliveries, and mark its matches digested (one transaction)."""
    session.add(
        DigestRow(
            id=digest_id,
            watchlist=watchlist,
            created_at=now,
            story_count=story_count,
            content=content,
        )
    )
    session.flush()
    for match_id in match_ids:
        match = session.get_one(MatchRow, match_id)
        match.status = DIGESTED
        match.digest_id = digest_id
    for message in messages:
        session.add(
            Delivery(
                id=message.delivery_id,
                digest_id=digest_id,
                watchlist=watchlist,
                destination=message.destination,
                url=message.url,
                format=message.format,
                part=message.part,
                parts=message.parts,
                body=message.body,
                content_type=message.content_type,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


def disabled_destinations(session: Session) -> set[str]:
    """Keys of destinations disabled after a 410 (or a platform's 404)."""
    return set(session.scalars(select(Destination.key).where(Destination.disabled.is_(True))))


def due_queues(session: Session, now: datetime) -> dict[str, list[str]]:
    """Pending delivery ids per destination, in send order, for destinations that are due.

    Send order is older digests first, then parts in order. A destination whose oldest
    pending delivery is not due yet is left out: its later messages wait behind it.
    Only ids are loaded, so a long backlog behind a failing destination stays cheap.
    """
    rows = session.execute(
        select(Delivery.id, Delivery.destination, Delivery.next_attempt_at)
        .where(Delivery.status == PENDING)
        .order_by(Delivery.destination, Delivery.created_at, Delivery.digest_id, Delivery.part)
    )
    queues: dict[str, list[str]] = {}
    blocked: set[str] = set()
    for delivery_id, destination, next_attempt_at in rows:
        if destination in blocked:
            continue
        if destination not in queues and next_attempt_at is not None and next_attempt_at > now:
            blocked.add(destination)
            continue
        queues.setdefault(destination, []).append(delivery_id)
    return queues


def blocked_destinations(session: Session, now: datetime) -> set[str]:
    """Destinations whose oldest pending delivery is not due yet (order is kept)."""
    rows = session.execute(
        select(Delivery.destination).where(
            and_(Delivery.status == PENDING, Delivery.next_attempt_at > now)
        )
    )
    return {row[0] for row in rows}


def record_attempt(
    session: Session,
    delivery_id: str,
    *,
    at: datetime,
    status_code: int | None,
    latency_ms: float,
    error: str | None,
    response_excerpt: str | None,
) -> None:
    """Append one attempt to a delivery's history."""
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempted_at=at,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
            response_excerpt=response_excerpt,
        )
    )


def disable_destination(session: Session, key: str, reason: str, now: datetime) -> None:
    """Stop sending to a destination that said it is gone."""
    row = session.get(Destination, key)
    if row is None:
        row = Destination(key=key)
        session.add(row)
    row.disabled = True
    row.disabled_reason = reason
    row.disabled_at = now
