"""The near-duplicate layer on the database: fingerprints in, verdicts out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.dedup.decide import Candidate, DocRef, Thresholds
from worker.dedup.fingerprint import Fingerprint, fingerprint
from worker.dedup.sql_index import add_shingles, find_overlaps_many, insert_new_shingles


class StoreNearDuplicates:
    """Checks a story against every seed and the stories of the last `history`.

    Look-ups read only the index rows of the story's own shingles (sub-linear in the
    corpus), inside the caller's transaction.
    """

    def __init__(self, thresholds: Thresholds, history: timedelta) -> None:
        self.thresholds = thresholds
        self.history = history

    def fingerprint(self, title: str, text: str) -> Fingerprint:
        """The normalised text, its hash and its shingles."""
        return fingerprint(title, text)

    def candidates(
        self, session: Session, prints: Sequence[Fingerprint], now: datetime
    ) -> list[list[Candidate]]:
        """Seeds and recent stories sharing shingles with each fingerprint (one statement)."""
        least = min(self.thresholds.min_shared, self.thresholds.min_shared_related)
        return find_overlaps_many(
            session.connection(),
            [p.shingles for p in prints],
            since=now - self.history,
            min_shared=least,
        )

    def index_new(self, session: Session, docs: Sequence[tuple[int, Fingerprint]]) -> None:
        """Index stories just inserted, in one statement."""
        insert_new_shingles(
            session.connection(), [(DocRef("story", doc_id), p.shingles) for doc_id, p in docs]
        )

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store a document's shingles (and its `shingle_count`)."""
        ref = DocRef(kind="seed" if kind == "seed" else "story", id=doc_id)
        session.flush()
        add_shingles(session.connection(), ref, print_.shingles)
