"""The near-duplicate layer on the database: fingerprints in, verdicts out.

The shingle rows of the stories a session stores wait in the session
(`dedup.pending.PendingShingles`) and are written when it commits, all at once and in
the order of the index; a rollback of the session's transaction drops them with the
stories. Stories stored inside a savepoint (`Session.begin_nested`) are indexed at once
instead, so that rolling the savepoint back takes their rows with it. The functions of
`dedup.sql_index` that take a `Connection` see only written rows: `write_pending` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from worker.dedup.decide import Candidate, DocRef, Thresholds
from worker.dedup.fingerprint import Fingerprint, fingerprint
from worker.dedup.pending import PendingShingles
from worker.dedup.sql_index import add_shingles, find_overlaps_many, insert_new_shingles

_PENDING = "wirewatch.pending_shingles"
"""The key of a session's `PendingShingles` in `Session.info`."""


def pending_shingles(session: Session) -> PendingShingles | None:
    """The shingles `session` holds for its open transaction, if any."""
    pending = session.info.get(_PENDING)
    return pending if isinstance(pending, PendingShingles) else None


def write_pending(session: Session) -> None:
    """Write the shingle rows `session` holds to the index now, in its transaction."""
    pending = pending_shingles(session)
    if pending:
        insert_new_shingles(session.connection(), pending.docs)
    session.info.pop(_PENDING, None)  # only once written: a failed commit keeps them


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction: committed or rolled back
        session.info.pop(_PENDING, None)


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
        """Seeds and recent stories sharing shingles with each fingerprint (a few statements
        for the whole batch)."""
        least = min(self.thresholds.min_shared, self.thresholds.min_shared_related)
        return find_overlaps_many(
            session.connection(),
            [p.shingles for p in prints],
            since=now - self.history,
            min_shared=least,
            pending=pending_shingles(session),
        )

    def index_new(
        self, session: Session, docs: Sequence[tuple[int, Fingerprint]], now: datetime
    ) -> None:
        """Index stories just inserted, first seen at `now`, when the session commits."""
        if session.in_nested_transaction():
            refs = [(DocRef("story", doc_id), print_.shingles) for doc_id, print_ in docs]
            insert_new_shingles(session.connection(), refs)
            return
        pending = pending_shingles(session)
        if pending is None:
            pending = session.info[_PENDING] = PendingShingles()
        for doc_id, print_ in docs:
            pending.add(DocRef("story", doc_id), print_.shingles, now)

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store a document's shingles (and its `shingle_count`)."""
        ref = DocRef(kind="seed" if kind == "seed" else "story", id=doc_id)
        session.flush()
        write_pending(session)  # the rows to replace may still be waiting
        add_shingles(session.connection(), ref, print_.shingles)
