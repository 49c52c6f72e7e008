"""The schema, as SQLAlchemy 2 typed models. Alembic migrations create it; see `alembic/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from worker.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Feed(Base):
    """A polled feed URL (shared by every watchlist that names it) and its health."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    first_polled_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failure_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    next_poll_at: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]


class Story(Base):
    """A feed entry as stored, with the verdict of de-duplication."""

    __tablename__ = "stories"
    __table_args__ = (UniqueConstraint("feed_id", "guid", name="uq_stories_feed_guid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(String(2048), index=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    published_at: Mapped[datetime] = mapped_column(index=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    shingle_count: Mapped[int] = mapped_column(Integer, default=0)
    shingle_hashes: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The document's rows in `shingles`, packed (`dedup.sql_index.pack_hashes`)."""
    dup_kind: Mapped[str | None] = mapped_column(String(16))
    dup_layer: Mapped[str | None] = mapped_column(String(16))
    dup_of_kind: Mapped[str | None] = mapped_column(String(8))
    dup_of_id: Mapped[int | None] = mapped_column(Integer)
    dup_containment: Mapped[float | None] = mapped_column(Float)
    dup_jaccard: Mapped[float | None] = mapped_column(Float)
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)


class SeedDocument(Base):
    """An article the user has already read; never pruned."""

    __tablename__ = "seed_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    file_hash: Mapped[str] = mapped_column(String(64))
    shingle_count: Mapped[int] = mapped_column(Integer, default=0)
    shingle_hashes: Mapped[bytes | None] = mapped_column(LargeBinary)
    imported_at: Mapped[datetime]


class Shingle(Base):
    """One shingle hash of one document (a seed or a story): the near-duplicate index.

    The primary key, led by the hash, is the only index: on SQLite the table is stored in
    it (``WITHOUT ROWID``). A document's rows are found from its owner's `shingle_hashes`.
    """

    __tablename__ = "shingles"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (read by SQLAlchemy)

    hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    doc_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    doc_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class MatchRow(Base):
    """A story matched a watchlist; `status` is queued, digested, backlog or suppressed."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("story_id", "watchlist", name="uq_matches_story_watchlist"),
        Index("ix_matches_watchlist_status", "watchlist", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    watchlist: Mapped[str] = mapped_column(String(200))
    matched: Mapped[list[str]] = mapped_column(JSON)
    hits: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    digest_id: Mapped[str | None] = mapped_column(
        ForeignKey("digests.id", ondelete="SET NULL"), index=True
    )


class DigestRow(Base):
    """A built digest: the outbox record of what was sent for a watchlist."""

    __tablename__ = "digests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    watchlist: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime]
    story_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class Destination(Base):
    """A webhook destination's state, keyed by a hash of its URL (never the URL)."""

    __tablename__ = "destinations"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]


class Delivery(Base):
    """One message of one digest to one destination; its id is the `webhook-id`."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest_id: Mapped[str] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), index=True)
    watchlist: Mapped[str] = mapped_column(String(200))
    destination: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    part: Mapped[int] = mapped_column(Integer)
    parts: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """One HTTP attempt of a delivery."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """A named lease held by one worker process until `expires_at` (replicas share work)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(index=True)
