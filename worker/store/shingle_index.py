"""The near-duplicate index in SQL: one row per (shingle hash, document).

A look-up reads only the rows of the new document's shingles (the primary key starts
with the hash), groups them by document and keeps documents sharing at least
`min_shared` shingles: the cost grows with the number of matching rows, not with the
size of the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from worker.dedup.decide import Candidate, DocRef
from worker.store.tables import SeedDocument, Shingle, Story

CHUNK = 500


class SqlShingleIndex:
    """A `ShingleIndex` over the `shingles` table, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, ref: DocRef, shingles: Iterable[int], seen_at: datetime | None = None) -> None:
        """Store the shingle set of `ref` (replacing any earlier one)."""
        self.session.execute(
            delete(Shingle).where(Shingle.doc_kind == ref.kind, Shingle.doc_id == ref.id)
        )
        rows = [{"hash": h, "doc_kind": ref.kind, "doc_id": ref.id} for h in set(shingles)]
        if rows:
            self.session.execute(insert(Shingle), rows)

    def overlaps(
        self, shingles: Iterable[int], since: datetime | None = None, min_shared: int = 1
    ) -> list[Candidate]:
        """Documents sharing at least `min_shared` shingles; stories before `since` left out."""
        hashes = list(set(shingles))
        counts: dict[tuple[str, int], int] = {}
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start : start + CHUNK]
            rows = self.session.execute(
                select(Shingle.doc_kind, Shingle.doc_id, func.count())
                .where(Shingle.hash.in_(chunk))
                .group_by(Shingle.doc_kind, Shingle.doc_id)
            )
            for kind, doc_id, count in rows:
                counts[(kind, doc_id)] = counts.get((kind, doc_id), 0) + count
        hits = {key: n for key, n in counts.items() if n >= min_shared}
        return self._candidates(hits, since)

    def _candidates(
        self, hits: dict[tuple[str, int], int], since: datetime | None
    ) -> list[Candidate]:
        seed_ids = [doc_id for kind, doc_id in hits if kind == "seed"]
        story_ids = [doc_id for kind, doc_id in hits if kind == "story"]
        found: list[Candidate] = []
        if seed_ids:
            for doc_id, size in self.session.execute(
                select(SeedDocument.id, SeedDocument.shingle_count).where(
                    SeedDocument.id.in_(seed_ids)
                )
            ):
                found.append(Candidate(DocRef("seed", doc_id), hits[("seed", doc_id)], size))
        if story_ids:
            query = select(Story.id, Story.shingle_count).where(Story.id.in_(story_ids))
            if since is not None:
                query = query.where(Story.first_seen_at >= since)
            for doc_id, size in self.session.execute(query):
                found.append(Candidate(DocRef("story", doc_id), hits[("story", doc_id)], size))
        return found
