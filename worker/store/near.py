"""The near-duplicate layer on the database: fingerprints in, verdicts out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.dedup.decide import DedupDecision, DocRef, Thresholds
from worker.dedup.fingerprint import Fingerprint, check_near, fingerprint
from worker.ingest import NEW, Verdict
from worker.store.shingle_index import SqlShingleIndex


class StoreNearDuplicates:
    """Checks a story against seeds and the stories of the last `history` (sub-linear)."""

    def __init__(self, thresholds: Thresholds, history: timedelta) -> None:
        self.thresholds = thresholds
        self.history = history

    def fingerprint(self, title: str, text: str) -> Fingerprint:
        """The normalised text, its hash and its shingles."""
        return fingerprint(title, text)

    def check(self, session: Session, print_: Fingerprint, now: datetime) -> Verdict:
        """The near-duplicate verdict against the seeds and recent stories."""
        index = SqlShingleIndex(session)
        return to_verdict(
            check_near(index, print_, since=now - self.history, limits=self.thresholds)
        )

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store a document's shingles."""
        ref = DocRef(kind="seed" if kind == "seed" else "story", id=doc_id)
        SqlShingleIndex(session).add(ref, print_.shingles, seen_at=now)


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
