"""Repository functions for stories and seed documents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from worker.store.arrays import dialect_of, in_param, list_value
from worker.store.tables import Feed, SeedDocument, Story

# The look-ups that run for every feed body, built once per dialect (`in_param`).
_DIALECTS = ("sqlite", "postgresql")
_KNOWN_GUIDS = {
    dialect: select(Story.guid).where(
        Story.feed_id == bindparam("feed_id"), in_param(dialect, Story.guid, "guids")
    )
    for dialect in _DIALECTS
}


def _first_by(key: Any, id_: Any, name: str) -> dict[str, Select[tuple[Any, int]]]:
    """Per dialect: the smallest `id_` for each value of `key` in the list bound as `:name`."""
    return {
        dialect: select(key, func.min(id_)).where(in_param(dialect, key, name)).group_by(key)
        for dialect in _DIALECTS
    }


_FIRST_BY_URL = _first_by(Story.canonical_url, Story.id, "urls")
_FIRST_STORY_BY_HASH = _first_by(Story.content_hash, Story.id, "hashes")
_FIRST_SEED_BY_HASH = _first_by(SeedDocument.content_hash, SeedDocument.id, "hashes")


def known_guids(session: Session, feed_id: int, guids: Iterable[str]) -> set[str]:
    """The guids among `guids` already stored for this feed."""
    wanted = set(guids)
    if not wanted:
        return set()
    dialect = dialect_of(session)
    params = {"feed_id": feed_id, "guids": list_value(dialect, wanted)}
    return set(session.connection().scalars(_KNOWN_GUIDS[dialect], params))


def story_with_canonical_url(session: Session, canonical_url: str) -> Story | None:
    """The earliest story stored with this canonical URL, if any."""
    return session.scalars(
        select(Story).where(Story.canonical_url == canonical_url).order_by(Story.id).limit(1)
    ).first()


def document_with_content_hash(session: Session, content_hash: str) -> tuple[str, int] | None:
    """A seed (preferred) or the earliest story whose normalised text hashes the same."""
    seed_id = session.scalar(
        select(SeedDocument.id).where(SeedDocument.content_hash == content_hash).limit(1)
    )
    if seed_id is not None:
        return ("seed", seed_id)
    story_id = session.scalar(
        select(Story.id).where(Story.content_hash == content_hash).order_by(Story.id).limit(1)
    )
    return ("story", story_id) if story_id is not None else None


def stories_by_canonical_url(session: Session, urls: Iterable[str]) -> dict[str, int]:
    """The earliest stored story for each of these canonical URLs."""
    wanted = set(urls)
    if not wanted:
        return {}
    dialect = dialect_of(session)
    rows = session.connection().execute(
        _FIRST_BY_URL[dialect], {"urls": list_value(dialect, wanted)}
    )
    return {url: story_id for url, story_id in rows if url}


def documents_by_content_hash(
    session: Session, hashes: Iterable[str]
) -> dict[str, tuple[str, int]]:
    """For each content hash, a seed (preferred) or the earliest story with that hash."""
    wanted = set(hashes)
    if not wanted:
        return {}
    dialect = dialect_of(session)
    params = {"hashes": list_value(dialect, wanted)}
    found: dict[str, tuple[str, int]] = {}
    connection = session.connection()  # Core: these run for every feed body
    for text_hash, story_id in connection.execute(_FIRST_STORY_BY_HASH[dialect], params):
        found[text_hash] = ("story", story_id)
    for text_hash, seed_id in connection.execute(_FIRST_SEED_BY_HASH[dialect], params):
        found[text_hash] = ("seed", seed_id)
    return found


def clusters_of(session: Session, story_ids: Iterable[int]) -> dict[int, int]:
    """The cluster id of each story (its own id when it heads a cluster)."""
    wanted = sorted(set(story_ids))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), 500):
        for story_id, cluster in session.execute(
            select(Story.id, Story.cluster_id).where(Story.id.in_(wanted[start : start + 500]))
        ):
            found[story_id] = cluster if cluster is not None else story_id
    return found


def cluster_of(session: Session, story_id: int) -> int:
    """The cluster id of a story (its own id when it heads a cluster)."""
    cluster = session.scalar(select(Story.cluster_id).where(Story.id == story_id))
    return cluster if cluster is not None else story_id


def get_story(session: Session, story_id: int) -> tuple[Story, Feed] | None:
    """A story and its feed."""
    row = session.execute(
        select(Story, Feed).join(Feed, Feed.id == Story.feed_id).where(Story.id == story_id)
    ).first()
    return (row[0], row[1]) if row else None


def stories_since(session: Session, since: datetime) -> list[tuple[Story, Feed]]:
    """Stories first seen at or after `since`, oldest first, with their feeds."""
    rows = session.execute(
        select(Story, Feed)
        .join(Feed, Feed.id == Story.feed_id)
        .where(Story.first_seen_at >= since)
        .order_by(Story.id)
    )
    return [(story, feed) for story, feed in rows]
