"""Build a digest from queued matches: one entry per story cluster, newest first.

Pure: the caller passes the queued items, the digest id and `now`.

Representative rule: within a cluster, the story first published (ties: the lowest id)
stands for the cluster; every other member's source and URL is listed under
"also reported by", once per distinct URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.models import Digest, DigestStory, Hit, SourceRef


@dataclass(frozen=True, slots=True)
class QueuedItem:
    """A story queued for a digest (or a member of its cluster, with `queued=False`)."""

    story_id: int
    cluster_id: int
    title: str
    url: str
    source: str
    published: datetime
    summary: str
    matched: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    queued: bool = True


def build_digest(
    digest_id: str,
    watchlist: str,
    timezone: str,
    items: Sequence[QueuedItem],
    now: datetime,
    notices: Sequence[str] = (),
) -> Digest:
    """Group queued items by cluster and order the clusters newest first."""
    clusters: dict[int, list[QueuedItem]] = {}
    for item in items:
        clusters.setdefault(item.cluster_id, []).append(item)
    stories = [
        _cluster_story(members)
        for members in clusters.values()
        if any(member.queued for member in members)
    ]
    stories.sort(key=lambda story: (story.published, story.story_id), reverse=True)
    return Digest(
        id=digest_id,
        watchlist=watchlist,
        generated_at=now,
        timezone=timezone,
        stories=tuple(stories),
        notices=tuple(notices),
    )


def _cluster_story(members: list[QueuedItem]) -> DigestStory:
    ordered = sorted(members, key=lambda item: (item.published, item.story_id))
    head = ordered[0]
    matched = tuple(dict.fromkeys(term for item in ordered for term in item.matched))
    hits = next((item.hits for item in ordered if item.hits), ())
    seen_urls = {head.url}
    others: list[SourceRef] = []
    for item in ordered[1:]:
        if item.url not in seen_urls:
            seen_urls.add(item.url)
            others.append(SourceRef(source=item.source, url=item.url))
    return DigestStory(
        story_id=head.story_id,
        title=head.title,
        url=head.url,
        source=head.source,
        published=head.published,
        summary=head.summary,
        matched=matched,
        hits=hits,
        also_reported_by=tuple(others),
    )
