"""Repository functions for feeds: which are due, who polls them, and what each poll found.

Replicas share the feeds through a lease on each row: `claim_due_feeds` picks the due,
unleased feeds with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one
writer and ignores it) and stamps `lease_owner`/`lease_until` in the same transaction;
`record_success`/`record_failure` clear the lease with the outcome. A replica that dies
mid-poll leaves a lease that expires, and the feed is due again for the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, Text, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.errors import StoreError
from worker.store.arrays import one_of
from worker.store.tables import Feed
from worker.store.types import UTCDateTime

_FEEDS = cast(Table, Feed.__table__)


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the fetcher needs to know about a feed before polling it."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    first_poll: bool
    consecutive_failures: int
    last_success_at: datetime | None


def ensure_feeds(session: Session, urls: Iterable[str]) -> None:
    """Create a row for every URL not yet known (a URL shared by watchlists is one feed)."""
    wanted = set(urls)
    if not wanted:
        return
    known = set(session.scalars(select(Feed.url).where(Feed.url.in_(wanted))))
    missing = sorted(wanted - known)
    if not missing:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    rows = [
        {"url": url, "consecutive_failures": 0, "disabled": False, "failure_reported": False}
        for url in missing
    ]  # another replica may insert the same URL at the same moment: ignore the conflict
    session.execute(dialect.insert(Feed).values(rows).on_conflict_do_nothing())


def due_feeds(session: Session, urls: Iterable[str], now: datetime) -> list[FeedState]:
    """Feeds among `urls` that are enabled and due at `now`."""
    rows = session.scalars(
        select(Feed)
        .where(Feed.url.in_(set(urls)), Feed.disabled.is_(False))
        .where(or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now))
        .order_by(Feed.id)
    )
    return [to_state(feed) for feed in rows]


def claim_due_feeds(
    session: Session, urls: Iterable[str], now: datetime, owner: str, ttl: timedelta
) -> list[FeedState]:
    """Lease to `owner` until `now + ttl` the feeds among `urls` that are due and unleased.

    Two statements whatever the number of feeds: the due rows are read (and locked, on
    PostgreSQL), then leased by one UPDATE. On SQLite the read runs before the write
    transaction begins, so the UPDATE checks the lease again and only the feeds it leased
    are returned.
    """
    table = _FEEDS
    rows = session.connection().execute(
        select(*(table.c[name] for name in _STATE_COLUMNS))
        .where(one_of(session, Feed.url, set(urls)), table.c.disabled.is_(False))
        .where(or_(table.c.next_poll_at.is_(None), table.c.next_poll_at <= now))
        .where(or_(table.c.lease_until.is_(None), table.c.lease_until <= now))
        .order_by(table.c.id)
        .with_for_update(skip_locked=True)
    )
    due = [to_state(row) for row in rows]
    if not due:
        return due
    leased = session.connection().execute(  # the lease is checked again: see the docstring
        update(table)
        .where(one_of(session, Feed.id, [state.id for state in due]))
        .where(or_(table.c.lease_until.is_(None), table.c.lease_until <= now))
        .values(lease_owner=owner, lease_until=now + ttl)
        .returning(table.c.id)
    )
    ids = set(leased.scalars())
    return [state for state in due if state.id in ids]


_STATE_COLUMNS = (
    "id",
    "url",
    "etag",
    "last_modified",
    "body_hash",
    "last_success_at",
    "consecutive_failures",
)


def release_feeds(session: Session, feed_ids: Iterable[int], owner: str) -> None:
    """Clear `owner`'s lease on these feeds (a poll that broke off), so they are due again."""
    ids = list(feed_ids)
    if ids:
        session.execute(
            update(Feed)
            .where(Feed.id.in_(ids), Feed.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


def to_state(feed: Feed | Row[Any]) -> FeedState:
    """The plain value of a feed row (a model, or a row with the state's columns)."""
    return FeedState(
        id=feed.id,
        url=feed.url,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        first_poll=feed.last_success_at is None,
        consecutive_failures=feed.consecutive_failures,
        last_success_at=feed.last_success_at,
    )


def record_success(
    session: Session,
    feed_id: int,
    now: datetime,
    *,
    status: int | None,
    title: str | None,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    next_poll_at: datetime,
    new_url: str | None = None,
) -> None:
    """A poll worked (fresh body, 304, or an unchanged body): one UPDATE of the feed's row.

    Values given as None (or an empty title) keep what the row has. A `new_url` (a
    permanent redirect) is taken unless another feed already has that URL.
    """
    updated = session.connection().execute(
        _SUCCESS,
        {
            "feed_id": feed_id,
            "now": now,
            "status": status,
            "title": title or None,
            "etag": etag,
            "last_modified": last_modified,
            "body_hash": body_hash,
            "next_poll_at": next_poll_at,
        },
    )
    if updated.rowcount != 1:
        raise StoreError(f"feed {feed_id} is no longer in the database")
    if new_url:
        taken = session.scalar(select(Feed.id).where(Feed.url == new_url))
        if taken is None:
            session.connection().execute(
                update(_FEEDS).where(_FEEDS.c.id == feed_id).values(url=new_url)
            )


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A feed that answered 304 or an identical body."""

    feed_id: int
    status: int | None
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime


def record_unchanged(session: Session, feeds: Sequence[Unchanged], now: datetime) -> None:
    """Record many unchanged polls in one statement (and give back their leases)."""
    session.connection().execute(
        _SUCCESS,
        [
            {
                "feed_id": feed.feed_id,
                "now": now,
                "status": feed.status,
                "title": None,
                "etag": feed.etag,
                "last_modified": feed.last_modified,
                "body_hash": None,
                "next_poll_at": feed.next_poll_at,
            }
            for feed in feeds
        ],
    )


def _kept_unless_given(column: str) -> ColumnElement[Any]:
    """The bound value of `column`, or the row's own when None is given."""
    return func.coalesce(bindparam(column, type_=Text()), _FEEDS.c[column])


_NOW = bindparam("now", type_=UTCDateTime())
_SUCCESS = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("feed_id"))
    .values(
        first_polled_at=func.coalesce(_FEEDS.c.first_polled_at, _NOW),
        last_polled_at=_NOW,
        last_success_at=_NOW,
        last_status=bindparam("status"),
        title=_kept_unless_given("title"),
        etag=_kept_unless_given("etag"),
        last_modified=_kept_unless_given("last_modified"),
        body_hash=_kept_unless_given("body_hash"),
        consecutive_failures=0,
        failing_since=None,
        failure_reported=False,
        next_poll_at=bindparam("next_poll_at", type_=UTCDateTime()),
        lease_owner=None,
        lease_until=None,
    )
)
"""A successful poll, for one feed (`record_success`) or many at once (`record_unchanged`)."""


def record_failure(
    session: Session,
    feed_id: int,
    now: datetime,
    *,
    status: int | None,
    kind: str,
    message: str,
    next_poll_at: datetime,
    disable: bool = False,
) -> None:
    """A poll failed: keep the error, count it, and schedule the next try."""
    feed = session.get_one(Feed, feed_id)
    feed.first_polled_at = feed.first_polled_at or now
    feed.last_polled_at = now
    feed.last_status = status
    feed.last_error_kind = kind
    feed.last_error = message[:1000]
    feed.consecutive_failures += 1
    feed.failing_since = feed.failing_since or now
    feed.next_poll_at = next_poll_at
    feed.lease_owner = None
    feed.lease_until = None
    if disable:
        feed.disabled = True
        feed.disabled_reason = f"{kind}: {message}"[:1000]


def all_feeds(session: Session) -> list[Feed]:
    """Every feed row, by URL."""
    return list(session.scalars(select(Feed).order_by(Feed.url)))


def failure_notices(
    session: Session, urls: Iterable[str], now: datetime, after: timedelta
) -> list[str]:
    """Notices for feeds failing for longer than `after` (or disabled), each reported once.

    The feeds named are marked as reported, so the next digest does not repeat them; a
    feed that recovers and fails again is reported again.
    """
    wanted = set(urls)
    if not wanted:
        return []
    rows = session.scalars(
        select(Feed)
        .where(Feed.url.in_(wanted), Feed.failure_reported.is_(False))
        .where(or_(Feed.disabled.is_(True), Feed.failing_since <= now - after))
        .order_by(Feed.url)
    )
    notices = []
    for feed in rows:
        if feed.disabled:
            notices.append(f"feed {feed.url} was disabled: {feed.disabled_reason or 'gone'}")
        else:
            since = feed.failing_since.isoformat() if feed.failing_since else "?"
            notices.append(
                f"feed {feed.url} has failed since {since} "
                f"({feed.consecutive_failures} polls; last error: {feed.last_error_kind})"
            )
        feed.failure_reported = True
    return notices
