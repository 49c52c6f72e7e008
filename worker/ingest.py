"""From parsed entries to stored stories: stable ids, exact de-duplication, the near layer.

`ingest_entries` runs in the caller's transaction, one feed body at a time, and returns
the stories that are new and not duplicates. It works on the whole batch at once, so a
feed's worth of entries costs a handful of statements, not a handful per entry:

1. guid: entries whose stable id this feed already has are not stored again;
2. url: the same canonical URL as a stored story (or an earlier entry of the batch) is a
   duplicate, folded into that story's cluster;
3. hash: the same normalised content hash as a seed or a story is a duplicate;
4. near: the shingles are compared with every seed, the stories of the history window
   and the earlier entries of the batch (`decide_near`): duplicate (dropped, or folded
   into the other's cluster) or related (clustered, never dropped).

A story's cluster is its own id (stored as NULL) unless it is a duplicate or related to
a story, in which case it joins that story's cluster.

What the layers compare (stable id, canonical URL, fingerprint) depends on the entry
alone, so it can be computed ahead, in a parser process (`parse_and_prepare`, used on a
feed's first poll, when every entry is new), and handed in as `prepared`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Dialect, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from worker.dedup.canonical import canonical_url
from worker.dedup.decide import Candidate, DedupDecision, DocRef, Thresholds, decide_near
from worker.dedup.fingerprint import Fingerprint, fingerprint
from worker.dedup.memory_index import BatchIndex
from worker.dedup.sql_index import pack_hashes
from worker.errors import StoreError
from worker.models import Entry, ParsedFeed
from worker.parse import parse_feed
from worker.store import stories as story_repo
from worker.store.tables import Story


@dataclass(frozen=True, slots=True)
class Verdict:
    """What de-duplication decided about one story."""

    kind: str  # "new" | "duplicate" | "related"
    layer: str | None = None  # "url" | "hash" | "near"
    other_kind: str | None = None  # "seed" | "story"
    other_id: int | None = None
    containment: float | None = None
    jaccard: float | None = None


NEW = Verdict("new")
STORIES: Table = Story.__table__  # type: ignore[assignment]


class NearDuplicates(Protocol):
    """The content layers of de-duplication, backed by the database."""

    thresholds: Thresholds

    def fingerprint(self, title: str, text: str) -> Fingerprint:
        """The normalised text, its hash and its shingles."""
        ...

    def candidates(
        self, session: Session, prints: Sequence[Fingerprint], now: datetime
    ) -> list[list[Candidate]]:
        """Stored seeds and recent stories sharing shingles with each fingerprint."""
        ...

    def index_new(
        self, session: Session, docs: Sequence[tuple[int, Fingerprint]], now: datetime
    ) -> None:
        """Index stories just inserted, first seen at `now` (their `shingle_count` is set).

        The rows may wait until the session commits; `candidates` finds them meanwhile.
        """
        ...

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store (or replace) one document's shingles and its `shingle_count`."""
        ...


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A story that was stored by this poll and is not a duplicate."""

    id: int
    cluster_id: int
    title: str
    summary: str
    url: str | None
    language: str | None
    published: datetime
    verdict: Verdict


def story_key(entry: Entry) -> str:
    """A stable id: the guid, else the canonical link, else a hash of title and date."""
    if entry.guid and entry.guid.strip():
        return entry.guid.strip()[:2000]
    if entry.url and entry.url.strip():
        return canonical_url(entry.url)[:2000]
    stamp = entry.published.isoformat() if entry.published else ""
    return "sha256:" + hashlib.sha256(f"{entry.title}\n{stamp}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Prepared:
    """An entry with what de-duplication compares: its stable id, canonical URL, fingerprint."""

    key: str
    entry: Entry
    canonical: str | None
    print_: Fingerprint

    def __reduce__(self) -> tuple[type[Prepared], tuple[str, Entry, str | None, Fingerprint]]:
        """Pickle as the arguments of the constructor (see `Entry.__reduce__`)."""
        return (type(self), (self.key, self.entry, self.canonical, self.print_))


def prepare(
    entry: Entry,
    fingerprint_: Callable[[str, str], Fingerprint] = fingerprint,
    key: str | None = None,
) -> Prepared:
    """Compute what de-duplication compares for one entry (no store needed).

    `key` is the entry's `story_key`, when the caller has it already.
    """
    return Prepared(
        key if key is not None else story_key(entry),
        entry,
        canonical_url(entry.url) if entry.url else None,
        fingerprint_(entry.title, entry.summary),
    )


def parse_and_prepare(
    body: bytes, *, url: str, content_type: str | None, max_entries: int
) -> tuple[ParsedFeed, list[Prepared]]:
    """`parse_feed`, then `prepare` every entry: a job for a parser process."""
    parsed = parse_feed(body, url=url, content_type=content_type, max_entries=max_entries)
    return parsed, [prepare(entry) for entry in parsed.entries]


@dataclass(slots=True)
class _Pending:
    """An entry on its way into the stories table."""

    key: str
    entry: Entry
    canonical: str | None
    print_: Fingerprint
    verdict: Verdict = NEW
    batch_other: int | None = None  # index of an earlier entry of the batch it repeats
    id: int = 0


def ingest_entries(
    session: Session,
    feed_id: int,
    entries: Sequence[Entry],
    now: datetime,
    near: NearDuplicates,
    prepared: Sequence[Prepared] | None = None,
) -> tuple[list[StoredStory], int]:
    """Store the entries not yet seen; return the non-duplicate ones and the duplicate count.

    `prepared`, when given, is `prepare(entry)` for each of `entries`, computed ahead with
    the fingerprint of `near`; otherwise it is computed here for the entries not yet seen.
    """
    if prepared is None:
        keyed = {story_key(entry): entry for entry in entries}
        known = story_repo.known_guids(session, feed_id, keyed)
        unseen = [
            prepare(entry, near.fingerprint, key)
            for key, entry in keyed.items()
            if key not in known
        ]
    else:
        ready = {p.key: p for p in prepared}  # like `keyed`: the last entry of a key wins
        known = story_repo.known_guids(session, feed_id, ready)
        unseen = [p for key, p in ready.items() if key not in known]
    batch = [_Pending(p.key, p.entry, p.canonical, p.print_) for p in unseen]
    if not batch:
        return [], 0
    _judge(session, batch, now, near)
    _insert(session, feed_id, batch, now)
    near.index_new(session, [(p.id, p.print_) for p in batch if p.verdict.kind != "duplicate"], now)
    clusters = _clusters(session, batch)
    fresh = [
        StoredStory(
            id=p.id,
            cluster_id=clusters.get(p.id, p.id),
            title=p.entry.title,
            summary=p.entry.summary,
            url=p.entry.url,
            language=p.entry.language,
            published=p.entry.published or now,
            verdict=p.verdict,
        )
        for p in batch
        if p.verdict.kind != "duplicate"
    ]
    return fresh, len(batch) - len(fresh)


def _judge(session: Session, batch: list[_Pending], now: datetime, near: NearDuplicates) -> None:
    """Give each pending entry its verdict, earlier entries of the batch included."""
    by_url = story_repo.stories_by_canonical_url(
        session, {p.canonical for p in batch if p.canonical}
    )
    by_hash = story_repo.documents_by_content_hash(session, {p.print_.content_hash for p in batch})
    stored = near.candidates(session, [p.print_ for p in batch], now)
    seen_urls: dict[str, int] = {}
    seen_hashes: dict[str, int] = {}
    earlier = BatchIndex()
    least = max(1, min(near.thresholds.min_shared, near.thresholds.min_shared_related))
    for index, pending in enumerate(batch):
        url, text_hash = pending.canonical, pending.print_.content_hash
        if url and url in by_url:
            pending.verdict = Verdict("duplicate", "url", "story", by_url[url], 1.0, 1.0)
        elif url and url in seen_urls:
            pending.verdict, pending.batch_other = (
                Verdict("duplicate", "url", "story"),
                seen_urls[url],
            )
        elif text_hash in by_hash:
            kind, other = by_hash[text_hash]
            pending.verdict = Verdict("duplicate", "hash", kind, other, 1.0, 1.0)
        elif text_hash in seen_hashes:
            pending.verdict = Verdict("duplicate", "hash", "story")
            pending.batch_other = seen_hashes[text_hash]
        else:
            local = [
                Candidate(DocRef("story", -number - 1), shared, size)
                for number, shared, size in earlier.overlaps(pending.print_.shingles, least)
            ]
            decision = decide_near(pending.print_.size, stored[index] + local, near.thresholds)
            pending.verdict = _verdict(decision)
            if decision.other is not None and decision.other.id < 0:
                pending.batch_other = -decision.other.id - 1
        if url:
            seen_urls.setdefault(url, index)
        seen_hashes.setdefault(text_hash, index)
        if pending.verdict.kind != "duplicate":
            earlier.add(index, pending.print_.shingles)


def _verdict(decision: DedupDecision) -> Verdict:
    if decision.kind == "new":
        return NEW
    other = decision.other
    return Verdict(
        kind=decision.kind,
        layer=decision.layer,
        other_kind=other.kind if other else None,
        other_id=other.id if other and other.id > 0 else None,
        containment=round(decision.containment, 4),
        jaccard=round(decision.jaccard, 4),
    )


_STORY_COLUMNS = (
    "feed_id", "guid", "url", "canonical_url", "title", "summary", "author", "language",
    "published_at", "first_seen_at", "content_hash", "shingle_count", "shingle_hashes",
    "dup_kind", "dup_layer", "dup_of_kind", "dup_of_id", "dup_containment", "dup_jaccard",
)  # fmt: skip
"""The columns a new story row is given, in the order `_story_row` lists their values."""


def _story_row(p: _Pending, feed_id: int, now: datetime) -> tuple[Any, ...]:
    """The values of `p`'s new row, in the order of `_STORY_COLUMNS`."""
    kept = p.verdict.kind != "duplicate"
    verdict = p.verdict
    return (
        feed_id, p.key, p.entry.url, p.canonical, p.entry.title, p.entry.summary,
        p.entry.author, p.entry.language, p.entry.published or now, now,
        p.print_.content_hash, p.print_.size if kept else 0,
        pack_hashes(p.print_.shingles) if kept else None,
        None if verdict.kind == "new" else verdict.kind, verdict.layer, verdict.other_kind,
        verdict.other_id, verdict.containment, verdict.jaccard,
    )  # fmt: skip


def _insert(session: Session, feed_id: int, batch: list[_Pending], now: datetime) -> None:
    """Insert the batch in one statement and learn the new ids."""
    rows = [_story_row(p, feed_id, now) for p in batch]
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        ids = _insert_sqlite(connection, feed_id, rows)
    else:
        # RETURNING in any order, matched back by guid (unique per feed)
        statement = insert(STORIES).returning(STORIES.c.guid, STORIES.c.id)
        values = [dict(zip(_STORY_COLUMNS, row, strict=True)) for row in rows]
        ids = {row[0]: row[1] for row in connection.execute(statement, values)}
    for pending in batch:
        pending.id = ids[pending.key]


@dataclass(frozen=True, slots=True)
class _DriverInsert:
    """The story insert as the driver takes it: SQL text, and the conversions SQLAlchemy
    would make to each column's values (`TypeEngine.bind_processor`), where there are any.
    """

    sql: str
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, dialect: Dialect) -> _DriverInsert:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO stories ({', '.join(_STORY_COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(_STORY_COLUMNS))})"
        )
        conversions = []
        for position, name in enumerate(_STORY_COLUMNS):
            convert = STORIES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                conversions.append((position, convert))
        return cls(sql, tuple(conversions))

    def rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """`rows` with each value converted as SQLAlchemy would."""
        if not self.conversions:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for position, convert in self.conversions:
                values[position] = convert(values[position])
            converted.append(tuple(values))
        return converted


_NEW_IDS = select(STORIES.c.guid, STORIES.c.id).where(
    STORIES.c.id.between(bindparam("first"), bindparam("last")),
    STORIES.c.feed_id == bindparam("feed_id"),
)
"""The stories a feed's insert just numbered (built once: building it cost more than it)."""

_DRIVER_INSERTS: dict[tuple[type[Dialect], str], _DriverInsert] = {}
"""By dialect class and parameter style: what the conversions depend on."""


def _insert_sqlite(
    connection: Connection, feed_id: int, rows: list[tuple[Any, ...]]
) -> dict[str, int]:
    """Insert with the driver's `executemany` and read the new ids back by rowid range.

    SQLite has one writer at a time and gives each new row the largest rowid plus one,
    so the rows of one `executemany` get consecutive ids ending at `last_insert_rowid()`.
    Reading them back (and checking that every guid is there) costs a short range scan;
    a multi-row `INSERT ... RETURNING` costs several times the insert itself. The rows go
    to the driver as tuples, converted once here: SQLAlchemy's per-row handling of a
    twenty-column insert cost as much as the insert.
    """
    dialect = connection.dialect
    key = (type(dialect), dialect.paramstyle)
    driver = _DRIVER_INSERTS.get(key)
    if driver is None:
        driver = _DRIVER_INSERTS[key] = _DriverInsert.of(dialect)
    connection.exec_driver_sql(driver.sql, driver.rows(rows))
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    found = connection.execute(
        _NEW_IDS, {"first": last - len(rows) + 1, "last": last, "feed_id": feed_id}
    )
    ids: dict[str, int] = {row[0]: row[1] for row in found}
    if ids.keys() != {row[1] for row in rows}:
        raise StoreError("the new stories did not get consecutive ids")
    return ids


def _clusters(session: Session, batch: list[_Pending]) -> dict[int, int]:
    """Set the cluster of every story that repeats or relates to another; id -> cluster."""
    stored_others = {
        p.verdict.other_id
        for p in batch
        if p.batch_other is None and p.verdict.other_kind == "story" and p.verdict.other_id
    }
    other_cluster = story_repo.clusters_of(session, stored_others)
    clusters: dict[int, int] = {}
    changes: list[dict[str, int]] = []
    for pending in batch:
        if pending.batch_other is not None:
            head = batch[pending.batch_other]
            cluster = clusters.get(head.id, head.id)
            changes.append({"story_id": pending.id, "cluster": cluster, "other": head.id})
        elif pending.verdict.other_kind == "story" and pending.verdict.other_id:
            cluster = other_cluster.get(pending.verdict.other_id, pending.verdict.other_id)
            changes.append(
                {"story_id": pending.id, "cluster": cluster, "other": pending.verdict.other_id}
            )
        else:
            continue
        clusters[pending.id] = cluster
    if changes:
        table = STORIES
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("story_id"))
            .values(cluster_id=bindparam("cluster"), dup_of_id=bindparam("other")),
            changes,
        )
    return clusters
