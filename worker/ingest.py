"""From parsed entries to stored stories: stable ids, exact de-duplication, the near layer.

Pure helpers first (`story_key`, `entry_published`), then `ingest_entries`, which runs in
the caller's transaction and returns the stories that are new and not duplicates.

Exact layers, cheapest first: the same guid in the same feed (not stored again); the same
canonical URL as any stored story (a duplicate, folded into that story's cluster); the
same normalised content hash as a seed or a story (a duplicate). Then the near-duplicate
layer (`NearDuplicates`), which may say duplicate (dropped, or folded into a cluster) or
related (clustered, never dropped).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from worker.dedup.canonical import canonical_url
from worker.dedup.fingerprint import Fingerprint
from worker.models import Entry
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


class NearDuplicates(Protocol):
    """The content layers of de-duplication, backed by the database."""

    def fingerprint(self, title: str, text: str) -> Fingerprint:
        """The normalised text, its hash and its shingles."""
        ...

    def check(self, session: Session, print_: Fingerprint, now: datetime) -> Verdict:
        """Compare a fingerprint with the seeds and recent stories."""
        ...

    def index(
        self, session: Session, kind: str, doc_id: int, print_: Fingerprint, now: datetime
    ) -> None:
        """Store a document's shingles in the index."""
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


def ingest_entries(
    session: Session,
    feed_id: int,
    entries: Sequence[Entry],
    now: datetime,
    near: NearDuplicates,
) -> tuple[list[StoredStory], int]:
    """Store the entries not yet seen; return the non-duplicate ones and the duplicate count."""
    keyed = {story_key(entry): entry for entry in entries}
    known = story_repo.known_guids(session, feed_id, keyed)
    fresh: list[StoredStory] = []
    duplicates = 0
    for key, entry in keyed.items():
        if key in known:
            continue
        story, verdict = _store(session, feed_id, key, entry, now, near)
        if verdict.kind == "duplicate":
            duplicates += 1
            continue
        fresh.append(
            StoredStory(
                id=story.id,
                cluster_id=story.cluster_id or story.id,
                title=story.title,
                summary=story.summary,
                url=story.url,
                language=story.language,
                published=story.published_at,
                verdict=verdict,
            )
        )
    return fresh, duplicates


def _store(
    session: Session, feed_id: int, key: str, entry: Entry, now: datetime, near: NearDuplicates
) -> tuple[Story, Verdict]:
    canonical = canonical_url(entry.url) if entry.url else None
    print_ = near.fingerprint(entry.title, entry.summary)
    verdict = _exact_layers(session, canonical, print_.content_hash)
    if verdict is NEW:
        verdict = near.check(session, print_, now)
    story = Story(
        feed_id=feed_id,
        guid=key,
        url=entry.url,
        canonical_url=canonical,
        title=entry.title,
        summary=entry.summary,
        author=entry.author,
        language=entry.language,
        published_at=entry.published or now,
        first_seen_at=now,
        content_hash=print_.content_hash,
        shingle_count=print_.size,
        dup_kind=None if verdict.kind == "new" else verdict.kind,
        dup_layer=verdict.layer,
        dup_of_kind=verdict.other_kind,
        dup_of_id=verdict.other_id,
        dup_containment=verdict.containment,
        dup_jaccard=verdict.jaccard,
    )
    session.add(story)
    session.flush()
    if verdict.other_kind == "story" and verdict.other_id is not None:
        story.cluster_id = story_repo.cluster_of(session, verdict.other_id)
    else:
        story.cluster_id = story.id
    if verdict.kind != "duplicate":
        near.index(session, "story", story.id, print_, now)
    return story, verdict


def _exact_layers(session: Session, canonical: str | None, text_hash: str) -> Verdict:
    if canonical:
        other = story_repo.story_with_canonical_url(session, canonical)
        if other is not None:
            return Verdict("duplicate", "url", "story", other.id, 1.0, 1.0)
    found = story_repo.document_with_content_hash(session, text_hash)
    if found is not None:
        return Verdict("duplicate", "hash", found[0], found[1], 1.0, 1.0)
    return NEW
