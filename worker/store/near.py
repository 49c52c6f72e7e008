"""The near-duplicate layer on the database: fingerprints in, verdicts out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.dedup.decide import DedupDecision, DocRef, Thresholds, decide_near
from worker.dedup.fingerprint import Fingerprint, fingerprint
from worker.dedup.sql_index import add_shingles, find_overlaps
from worker.ingest import NEW, Verdict


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

    def check(self, session: Session, print_: Fingerprint, now: datetime) -> Verdict:
        """The near-duplicate verdict against the seeds and recent stories."""
        least = min(self.thresholds.min_shared, self.thresholds.min_shared_related)
        candidates = find_overlaps(
            session.connection(), print_.shingles, since=now - self.history, min_shared=least
        )
        return to_verdict(decide_near(print_.size, candidates, self.thresholds))

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store a document's shingles (and its `shingle_count`)."""
        ref = DocRef(kind="seed" if kind == "seed" else "story", id=doc_id)
        session.flush()
        add_shingles(session.connection(), ref, print_.shingles)


def to_verdict(decision: DedupDecision) -> Verdict:
    """The pipeline's view of a de-duplication decision."""
    if decision.kind == "new":
        return NEW
    return Verdict(
        kind=decision.kind,
        layer=decision.layer,
        other_kind=decision.other.kind if decision.other else None,
        other_id=decision.other.id if decision.other else None,
        containment=round(decision.containment, 4),
        jaccard=round(decision.jaccard, 4),
    )
