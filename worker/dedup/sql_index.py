"""The shingle index in SQL (SQLite and PostgreSQL), over SQLAlchemy Core.

One row per (shingle hash, document) in the ``shingles`` table, whose primary key
``(hash, doc_kind, doc_id)`` doubles as the lookup index; the size of each document's
set is its row's ``shingle_count`` (``seed_documents`` or ``stories``). Signatures live
in the database, so a restart recomputes nothing, and a lookup reads only the postings
of the new document's shingles (no scan of the corpus):

.. code-block:: sql

    WITH rare AS (                 -- skip shingles held by too many documents
        SELECT hash FROM shingles WHERE hash IN (:hashes)
        GROUP BY hash HAVING count(*) <= :max_postings)
    SELECT doc_kind, doc_id, count(*) FROM shingles
    WHERE hash IN (SELECT hash FROM rare)
    GROUP BY doc_kind, doc_id HAVING count(*) >= :min_shared

On PostgreSQL ``hash = ANY(:hashes)`` with one array parameter replaces the ``IN`` list.
The functions that take a `Connection` run inside the caller's transaction; the
`SqlShingleIndex` class opens its own. SQLAlchemy errors become `StoreError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError

from worker.dedup.decide import MIN_SHARED_RELATED, Candidate, DocRef
from worker.dedup.memory_index import MAX_POSTINGS
from worker.errors import StoreError
from worker.store.tables import SeedDocument, Shingle, Story

__all__ = ["SqlShingleIndex", "add_shingles", "find_overlaps", "remove_shingles"]

_SHINGLES = cast(Table, Shingle.__table__)
_SEEDS = cast(Table, SeedDocument.__table__)
_STORIES = cast(Table, Story.__table__)
_OWNERS = {"seed": _SEEDS, "story": _STORIES}


def _hash_filter(conn: Connection, column: Any) -> ColumnElement[bool]:
    """`column IN (:hashes)`, or `column = ANY(:hashes)` on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("hashes", type_=ARRAY(BigInteger())))  # type: ignore[no-any-return]
    return column.in_(bindparam("hashes", expanding=True))  # type: ignore[no-any-return]


def add_shingles(conn: Connection, ref: DocRef, shingles: Iterable[int]) -> None:
    """Store the shingle set of `ref`, replacing any earlier one, and set its `shingle_count`.

    Call it after inserting the seed or story row, in the same transaction.
    """
    signature = sorted(set(shingles))
    conn.execute(
        delete(_SHINGLES).where(_SHINGLES.c.doc_kind == ref.kind, _SHINGLES.c.doc_id == ref.id)
    )
    if signature:
        conn.execute(
            insert(_SHINGLES),
            [{"hash": h, "doc_kind": ref.kind, "doc_id": ref.id} for h in signature],
        )
    owner = _OWNERS[ref.kind]
    conn.execute(update(owner).where(owner.c.id == ref.id).values(shingle_count=len(signature)))


def remove_shingles(conn: Connection, ref: DocRef) -> None:
    """Forget the shingles of `ref` (a pruned story)."""
    conn.execute(
        delete(_SHINGLES).where(_SHINGLES.c.doc_kind == ref.kind, _SHINGLES.c.doc_id == ref.id)
    )


def _shared_counts(
    conn: Connection, hashes: list[int], min_shared: int, max_postings: int
) -> list[tuple[str, int, int]]:
    """(doc_kind, doc_id, shared) of every document sharing `min_shared` rare shingles."""
    rare = (
        select(_SHINGLES.c.hash)
        .where(_hash_filter(conn, _SHINGLES.c.hash))
        .group_by(_SHINGLES.c.hash)
        .having(func.count() <= max_postings)
        .cte("rare")
    )
    shared = func.count().label("shared")
    query = (
        select(_SHINGLES.c.doc_kind, _SHINGLES.c.doc_id, shared)
        .where(_SHINGLES.c.hash.in_(select(rare.c.hash)))
        .group_by(_SHINGLES.c.doc_kind, _SHINGLES.c.doc_id)
        .having(func.count() >= min_shared)
    )
    rows = conn.execute(query, {"hashes": hashes}).all()
    return [(str(kind), int(doc_id), int(n)) for kind, doc_id, n in rows]


def _sizes(conn: Connection, kind: str, ids: list[int], since: datetime | None) -> dict[int, int]:
    """The `shingle_count` of each id still present (and, for stories, seen since `since`)."""
    owner = _OWNERS[kind]
    query = select(owner.c.id, owner.c.shingle_count).where(owner.c.id.in_(ids))
    if kind == "story" and since is not None:
        query = query.where(owner.c.first_seen_at >= since)
    return {int(i): int(n) for i, n in conn.execute(query).all()}


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
    counts = _shared_counts(conn, hashes, max(min_shared, 1), max_postings)
    found: list[Candidate] = []
    for kind in ("seed", "story"):
        ids = [doc_id for k, doc_id, _ in counts if k == kind]
        if not ids:
            continue
        sizes = _sizes(conn, kind, ids, since)
        for k, doc_id, n in counts:
            if k == kind and doc_id in sizes:
                ref = DocRef("seed" if kind == "seed" else "story", doc_id)
                found.append(Candidate(ref=ref, shared=n, size=sizes[doc_id]))
    found.sort(key=lambda c: (-c.shared, c.ref))
    return found


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
