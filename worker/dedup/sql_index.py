"""The shingle index in SQL (SQLite and PostgreSQL), over SQLAlchemy Core.

One row per (shingle hash, document) in the ``shingles`` table, whose primary key
``(hash, doc_kind, doc_id)`` is its only index (on SQLite the table is stored in it,
``WITHOUT ROWID``); the size of each document's set is its owner row's ``shingle_count``
(``seed_documents`` or ``stories``), and the set itself its ``shingle_hashes``
(`pack_hashes`), through which a document's rows are deleted by key. Signatures live
in the database, so a restart recomputes nothing, and a lookup reads only the postings
of the new document's shingles (no scan of the corpus):

.. code-block:: sql

    WITH rare AS (                 -- skip shingles held by too many documents
        SELECT hash FROM shingles WHERE hash IN (:hashes...)
        GROUP BY hash HAVING count(*) <= :max_postings)
    SELECT doc_kind, doc_id, count(*) FROM shingles
    WHERE hash IN (SELECT hash FROM rare)
    GROUP BY doc_kind, doc_id HAVING count(*) >= :min_shared

The new document's hashes travel as one parameter: a JSON array read with
``json_each`` on SQLite, a ``BIGINT[]`` with ``hash = ANY(:hashes)`` on PostgreSQL, so the
statement text never changes. The same query joins each document's ``shingle_count`` and,
for stories, keeps only those first seen at or after ``:since``. `find_overlaps_many`, the
look-up of a whole feed, reads the postings and counts shared shingles itself, then reads
the sizes of the few documents that share enough; it also finds the documents of the
caller's transaction whose rows are still pending (`dedup.pending`).
The functions that take a `Connection` run inside the caller's transaction; the
`SqlShingleIndex` class opens its own. SQLAlchemy errors become `StoreError`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    TextClause,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from worker.dedup.decide import (
    DEFAULT_THRESHOLDS,
    MIN_SHARED_RELATED,
    Candidate,
    DedupDecision,
    DocRef,
    Thresholds,
    decide_near,
)
from worker.dedup.fingerprint import Fingerprint
from worker.dedup.memory_index import MAX_POSTINGS
from worker.dedup.pending import PendingShingles
from worker.errors import StoreError
from worker.store.arrays import dialect_of, in_list, list_value
from worker.store.tables import SeedDocument, Shingle, Story
from worker.store.types import UTCDateTime

__all__ = [
    "SqlShingleIndex",
    "add_shingles",
    "check_near_in",
    "delete_shingle_rows",
    "find_overlaps",
    "find_overlaps_many",
    "insert_new_shingles",
    "pack_hashes",
    "remove_shingles",
    "unpack_hashes",
]

log = logging.getLogger(__name__)

_SHINGLES = cast(Table, Shingle.__table__)
_SEEDS = cast(Table, SeedDocument.__table__)
_STORIES = cast(Table, Story.__table__)
_OWNERS = {"seed": _SEEDS, "story": _STORIES}


def pack_hashes(hashes: Iterable[int]) -> bytes | None:
    """A document's shingle hashes as its owner row keeps them: sorted, big-endian int64.

    None for an empty set, so that only documents with index rows carry a value.
    """
    ordered = sorted(hashes if isinstance(hashes, AbstractSet) else set(hashes))
    return struct.pack(f">{len(ordered)}q", *ordered) if ordered else None


def unpack_hashes(packed: bytes | None) -> list[int]:
    """The hashes `pack_hashes` packed."""
    return list(struct.unpack(f">{len(packed) // 8}q", packed)) if packed else []


def add_shingles(conn: Connection, ref: DocRef, shingles: Iterable[int]) -> None:
    """Store the shingle set of `ref`, replacing any earlier one, and set its `shingle_count`.

    Call it after inserting the seed or story row, in the same transaction.
    """
    signature = sorted(set(shingles))
    delete_shingle_rows(conn, ref)
    if signature:
        conn.execute(
            insert(_SHINGLES),
            [{"hash": h, "doc_kind": ref.kind, "doc_id": ref.id} for h in signature],
        )
    owner = _OWNERS[ref.kind]
    conn.execute(
        update(owner)
        .where(owner.c.id == ref.id)
        .values(shingle_count=len(signature), shingle_hashes=pack_hashes(signature))
    )


_DELETE_ROW = delete(_SHINGLES).where(
    _SHINGLES.c.hash == bindparam("hash"),
    _SHINGLES.c.doc_kind == bindparam("kind"),
    _SHINGLES.c.doc_id == bindparam("doc_id"),
)


def delete_shingle_rows(conn: Connection, ref: DocRef) -> None:
    """Delete the index rows of `ref` by key, leaving its owner row to the caller (which
    deletes it, as retention does, or writes its new set, as `add_shingles` does).

    The rows to delete are the ones its owner row lists in `shingle_hashes`. A document
    indexed without that list (by a worker older than the list, still running during an
    upgrade) has its rows found by a scan of the table instead, so none is left behind.
    """
    owner = _OWNERS[ref.kind]
    found = conn.execute(
        select(owner.c.shingle_hashes, owner.c.shingle_count).where(owner.c.id == ref.id)
    ).one_or_none()
    if found is None:
        return
    packed, count = found
    if packed is not None:
        conn.execute(
            _DELETE_ROW,
            [{"hash": h, "kind": ref.kind, "doc_id": ref.id} for h in unpack_hashes(packed)],
        )
    elif count:
        log.warning("the shingles of %s %d were found by a scan (no list)", ref.kind, ref.id)
        conn.execute(
            delete(_SHINGLES).where(_SHINGLES.c.doc_kind == ref.kind, _SHINGLES.c.doc_id == ref.id)
        )


def remove_shingles(conn: Connection, ref: DocRef) -> None:
    """Forget the shingles of `ref`: its index rows, and its owner row's count and list."""
    delete_shingle_rows(conn, ref)
    owner = _OWNERS[ref.kind]
    conn.execute(
        update(owner).where(owner.c.id == ref.id).values(shingle_count=0, shingle_hashes=None)
    )


_LOOKUP = """
WITH rare AS (
    SELECT hash FROM shingles WHERE hash {in_hashes}
    GROUP BY hash HAVING count(*) <= :max_postings
), shared AS (
    SELECT doc_kind, doc_id, count(*) AS n FROM shingles
    WHERE hash IN (SELECT hash FROM rare)
    GROUP BY doc_kind, doc_id HAVING count(*) >= :min_shared
)
SELECT shared.doc_kind, shared.doc_id, shared.n,
       coalesce(seed_documents.shingle_count, stories.shingle_count)
FROM shared
LEFT JOIN seed_documents
    ON shared.doc_kind = 'seed' AND seed_documents.id = shared.doc_id
LEFT JOIN stories
    ON shared.doc_kind = 'story' AND stories.id = shared.doc_id
    AND stories.first_seen_at >= :since
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SINCE = bindparam("since", type_=UTCDateTime())


def _by_dialect(
    sql: str, lists: tuple[str, ...] = ("hashes",), element: TypeEngine[int] | None = None
) -> dict[str, TextClause]:
    """`sql` for SQLite and PostgreSQL, each of its `lists` bound as one list (`store.arrays`).

    `{in_NAME}` in `sql` stands for `IN` the list `:NAME`. Whatever the lengths of the
    lists, the statement text is the same, so it is prepared once.
    """
    item = element if element is not None else BigInteger()
    since = [_SINCE] if ":since" in sql else []
    statements: dict[str, TextClause] = {}
    for dialect in ("sqlite", "postgresql"):
        clause = text(sql.format(**{f"in_{name}": in_list(dialect, name) for name in lists}))
        arrays = [bindparam(name, type_=ARRAY(item)) for name in lists]
        typed = arrays if dialect == "postgresql" else []
        statements[dialect] = clause.bindparams(*since, *typed)
    return statements


def _statement(conn: Connection, statements: dict[str, TextClause]) -> TextClause:
    return statements[dialect_of(conn)]


_LOOKUPS = _by_dialect(_LOOKUP)


def _ref(kind: str, doc_id: int) -> DocRef:
    """The reference a `doc_kind` column value names."""
    return DocRef("seed", doc_id) if kind == "seed" else DocRef("story", doc_id)


def find_overlaps(
    conn: Connection,
    shingles: Iterable[int],
    since: datetime | None = None,
    min_shared: int = MIN_SHARED_RELATED,
    max_postings: int = MAX_POSTINGS,
) -> list[Candidate]:
    """Stored documents sharing at least `min_shared` shingles with `shingles`.

    Stories first seen before `since` (aware UTC) are left out; seeds are always included.
    Shingles held by more than `max_postings` documents are skipped as boilerplate.
    """
    hashes = sorted(set(shingles))
    if not hashes:
        return []
    params: dict[str, Any] = {
        "max_postings": max_postings,
        "min_shared": max(min_shared, 1),
        "since": since or _EPOCH,
    }
    statement, params["hashes"] = _statement(conn, _LOOKUPS), list_value(conn.dialect.name, hashes)
    found = [
        Candidate(
            ref=DocRef("seed" if kind == "seed" else "story", int(doc_id)), shared=n, size=size
        )
        for kind, doc_id, n, size in conn.execute(statement, params).all()
        if size is not None
    ]
    found.sort(key=lambda c: (-c.shared, c.ref))
    return found


_POSTINGS = """
SELECT hash, doc_kind, doc_id FROM (
    SELECT hash, doc_kind, doc_id, count(*) OVER (PARTITION BY hash) AS postings
    FROM shingles WHERE hash {in_hashes}
) AS hits
WHERE postings <= :max_postings
"""
"""The postings of a batch's rare shingles.

Read once through the primary key, with or without table statistics. The documents'
sizes are read afterwards, only for those that share enough shingles to be candidates
(a handful per feed, against hundreds of postings): a size look-up per posting here
took half the time of the statement. A join here let PostgreSQL, on a fresh database
that had not been analysed yet, scan the whole shingle table for every feed (75 ms per
feed at 15,000 stories, and growing).
"""
_POSTINGS_BY_DIALECT = _by_dialect(_POSTINGS)

_COMMON = """
SELECT hash FROM shingles WHERE hash {in_hashes}
GROUP BY hash HAVING count(*) > :max_postings
"""
"""Which of some shingles more than `max_postings` stored documents hold."""
_COMMON_BY_DIALECT = _by_dialect(_COMMON)

_SIZES = """
SELECT doc_kind, id, shingle_count FROM (
    SELECT 'seed' AS doc_kind, id, shingle_count FROM seed_documents WHERE id {in_seeds}
    UNION ALL
    SELECT 'story' AS doc_kind, id, shingle_count FROM stories
    WHERE id {in_stories} AND first_seen_at >= :since
) AS sizes
"""
"""The shingle count of some seeds and of those of some stories first seen since `since`."""
_SIZES_BY_DIALECT = _by_dialect(_SIZES, lists=("seeds", "stories"), element=Integer())


def find_overlaps_many(
    conn: Connection,
    shingle_sets: Sequence[Iterable[int]],
    since: datetime | None = None,
    min_shared: int = MIN_SHARED_RELATED,
    max_postings: int = MAX_POSTINGS,
    pending: PendingShingles | None = None,
) -> list[list[Candidate]]:
    """`find_overlaps` for many new documents at once.

    It reads the postings of every rare shingle of the batch, counts shared shingles per
    new document here, then reads the sizes of the documents that share enough: a feed's
    worth of stories costs two or three statements. `pending` holds documents of the
    caller's transaction that are not in the table yet; they are found as if they were.
    """
    sets = [frozenset(shingles) for shingles in shingle_sets]
    hashes = sorted(set().union(*sets)) if sets else []
    if not hashes:
        return [[] for _ in sets]
    dialect = conn.dialect.name
    postings: dict[int, list[DocRef]] = {}
    found = conn.execute(
        _statement(conn, _POSTINGS_BY_DIALECT),
        {"hashes": list_value(dialect, hashes), "max_postings": max_postings},
    )
    for hash_, kind, doc_id in found:
        postings.setdefault(int(hash_), []).append(_ref(kind, int(doc_id)))
    if pending:
        _add_pending(conn, postings, hashes, pending, max_postings)
    least = max(min_shared, 1)
    counts: list[dict[DocRef, int]] = []
    for signature in sets:
        shared: dict[DocRef, int] = {}
        for hash_ in signature:
            for ref in postings.get(hash_, ()):
                shared[ref] = shared.get(ref, 0) + 1
        counts.append({ref: n for ref, n in shared.items() if n >= least})
    sizes = _sizes(conn, set().union(*counts), since or _EPOCH, pending)
    result: list[list[Candidate]] = []
    for shared in counts:
        candidates = [
            Candidate(ref=ref, shared=n, size=sizes[ref])
            for ref, n in shared.items()
            if ref in sizes
        ]
        candidates.sort(key=lambda c: (-c.shared, c.ref))
        result.append(candidates)
    return result


def _add_pending(
    conn: Connection,
    postings: dict[int, list[DocRef]],
    hashes: Sequence[int],
    pending: PendingShingles,
    max_postings: int,
) -> None:
    """Add the pending documents to `postings`, skipping shingles then held by too many.

    `postings` has every rare shingle's stored documents. A shingle missing from it is
    held by none, or by more than `max_postings`: which of these, only the table says.
    """
    unknown: list[int] = []
    waiting_for = pending.holding(hashes)
    for hash_, waiting in waiting_for.items():
        stored = postings.get(hash_)
        if stored is None:
            unknown.append(hash_)
        elif len(stored) + len(waiting) > max_postings:
            del postings[hash_]
        else:
            postings[hash_] = stored + waiting
    if not unknown:
        return
    common = {
        int(row[0])
        for row in conn.execute(
            _statement(conn, _COMMON_BY_DIALECT),
            {"hashes": list_value(conn.dialect.name, unknown), "max_postings": max_postings},
        )
    }
    for hash_ in unknown:
        waiting = waiting_for[hash_]
        if hash_ not in common and len(waiting) <= max_postings:
            postings[hash_] = waiting


def _sizes(
    conn: Connection, refs: set[DocRef], since: datetime, pending: PendingShingles | None
) -> dict[DocRef, int]:
    """The shingle count of each of `refs` that may be a candidate: every seed, and the
    stories first seen at or after `since`."""
    sizes: dict[DocRef, int] = {}
    stored: list[DocRef] = []
    for ref in refs:
        held = pending.seen.get(ref) if pending else None
        if held is None:
            stored.append(ref)
        elif held[1] >= since:
            sizes[ref] = held[0]
    if not stored:
        return sizes
    dialect = conn.dialect.name
    params = {
        "seeds": list_value(dialect, sorted(r.id for r in stored if r.kind == "seed")),
        "stories": list_value(dialect, sorted(r.id for r in stored if r.kind == "story")),
        "since": since,
    }
    for kind, doc_id, size in conn.execute(_statement(conn, _SIZES_BY_DIALECT), params):
        sizes[_ref(kind, int(doc_id))] = int(size)
    return sizes


def insert_new_shingles(conn: Connection, docs: Sequence[tuple[DocRef, AbstractSet[int]]]) -> None:
    """Index documents that have no shingles yet, in one statement.

    The rows go straight to the driver's `executemany` (tens of rows per story make
    SQLAlchemy's per-row parameter handling the largest cost of storing a story), sorted
    by hash, the first column of the key, so that consecutive rows land on the same index
    pages. Each document's shingles are a set: a hash twice would break the key.
    The owner rows' `shingle_count` and `shingle_hashes` (`pack_hashes`) are the caller's
    to set, when it inserts them.
    """
    rows: list[tuple[int, str, int]] = []
    for ref, shingles in docs:
        rows += zip(shingles, repeat(ref.kind), repeat(ref.id))
    rows.sort(key=itemgetter(0))  # a hash shared by two of them: either order will do
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # psycopg's executemany still sends one INSERT per row (pipelined): three arrays
        # unnested by one INSERT are several times faster.
        hashes, kinds, ids = (list(column) for column in zip(*rows, strict=True))
        conn.execute(_PG_UNNEST_SHINGLES, {"hashes": hashes, "kinds": kinds, "ids": ids})
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO shingles (hash, doc_kind, doc_id) VALUES ({marker}, {marker}, {marker})",
        rows,
    )


_PG_UNNEST_SHINGLES = text(
    "INSERT INTO shingles (hash, doc_kind, doc_id) SELECT * FROM unnest(:hashes, :kinds, :ids)"
).bindparams(
    bindparam("hashes", type_=ARRAY(BigInteger())),
    bindparam("kinds", type_=ARRAY(String())),
    bindparam("ids", type_=ARRAY(BigInteger())),
)


def check_near_in(
    conn: Connection,
    print_: Fingerprint,
    since: datetime | None = None,
    limits: Thresholds = DEFAULT_THRESHOLDS,
    max_postings: int = MAX_POSTINGS,
) -> DedupDecision:
    """The near-duplicate verdict for `print_`, inside the caller's transaction.

    Call it before `add_shingles` for the same story, or the story finds itself.
    """
    least = max(1, min(limits.min_shared, limits.min_shared_related))
    candidates = find_overlaps(conn, print_.shingles, since, least, max_postings)
    return decide_near(print_.size, candidates, limits)


class SqlShingleIndex:
    """A `ShingleIndex` over an engine; each call is its own transaction."""

    def __init__(self, engine: Engine, max_postings: int = MAX_POSTINGS) -> None:
        self._engine = engine
        self._max_postings = max_postings

    def add(self, ref: DocRef, shingles: Iterable[int], seen_at: datetime | None = None) -> None:
        """Store the shingle set of `ref`; its row must exist (`seen_at` is the row's)."""
        try:
            with self._engine.begin() as conn:
                add_shingles(conn, ref, shingles)
        except SQLAlchemyError as error:
            raise StoreError(f"could not store the shingles of {ref.kind} {ref.id}") from error

    def remove(self, ref: DocRef) -> None:
        """Forget the shingles of `ref`."""
        try:
            with self._engine.begin() as conn:
                remove_shingles(conn, ref)
        except SQLAlchemyError as error:
            raise StoreError(f"could not remove the shingles of {ref.kind} {ref.id}") from error

    def overlaps(
        self,
        shingles: Iterable[int],
        since: datetime | None = None,
        min_shared: int = MIN_SHARED_RELATED,
    ) -> list[Candidate]:
        """Stored documents sharing at least `min_shared` shingles with `shingles`."""
        try:
            with self._engine.connect() as conn:
                return find_overlaps(conn, shingles, since, min_shared, self._max_postings)
        except SQLAlchemyError as error:
            raise StoreError("could not look up shingle overlaps") from error
