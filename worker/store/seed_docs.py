"""Import seed articles into the database (idempotent: unchanged files are skipped)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.ingest import NearDuplicates
from worker.seeds import SeedFile
from worker.store.tables import SeedDocument


@dataclass(frozen=True, slots=True)
class SeedImport:
    """Counts of one import."""

    added: int
    updated: int
    unchanged: int


def import_seeds(
    session: Session, seeds: Iterable[SeedFile], near: NearDuplicates, now: datetime
) -> SeedImport:
    """Add new seed files, re-index changed ones, leave unchanged ones alone."""
    added = updated = unchanged = 0
    for seed in seeds:
        row = session.scalar(select(SeedDocument).where(SeedDocument.path == seed.path))
        if row is not None and row.file_hash == seed.file_hash:
            unchanged += 1
            continue
        if row is None:
            row = SeedDocument(path=seed.path, imported_at=now)
            session.add(row)
            added += 1
        else:
            updated += 1  # `near.index` replaces its shingles
        row.title = seed.title
        row.text = seed.text
        row.source_url = seed.source_url
        row.published_at = seed.published
        row.file_hash = seed.file_hash
        row.imported_at = now
        print_ = near.fingerprint(seed.title, seed.text)
        row.content_hash = print_.content_hash
        row.shingle_count = print_.size
        session.flush()
        near.index(session, "seed", row.id, print_, now)
    return SeedImport(added, updated, unchanged)
