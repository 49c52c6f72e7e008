"""The generic JSON payload: the whole digest in one message, never split.

The shape is documented in `docs/payloads.md`; times are UTC with a `Z` suffix, and each
story also carries `published_local` in the digest's timezone.
"""

from __future__ import annotations

import json
from typing import Any

from worker.digest.message import JSON_CONTENT_TYPE, Message, RenderOptions
from worker.digest.text import local_time, utc_z
from worker.models import Digest, DigestStory

PAYLOAD_TYPE = "wirewatch.digest"


def story_payload(story: DigestStory, tz: str) -> dict[str, Any]:
    """The JSON object for one story."""
    return {
        "id": story.story_id,
        "title": story.title,
        "url": story.url,
        "source": story.source,
        "published": utc_z(story.published),
        "published_local": local_time(story.published, tz).isoformat(),
        "summary": story.summary,
        "matched": list(story.matched),
        "snippets": [
            {"term": hit.term, "field": hit.field, "text": hit.snippet} for hit in story.hits
        ],
        "also_reported_by": [
            {"source": ref.source, "url": ref.url} for ref in story.also_reported_by
        ],
    }


def digest_payload(digest: Digest) -> dict[str, Any]:
    """The JSON object for a whole digest."""
    return {
        "type": PAYLOAD_TYPE,
        "id": digest.id,
        "watchlist": digest.watchlist,
        "generated_at": utc_z(digest.generated_at),
        "timezone": digest.timezone,
        "stories": [story_payload(story, digest.timezone) for story in digest.stories],
        "notices": list(digest.notices),
    }


def render(digest: Digest, options: RenderOptions) -> list[Message]:
    """Render the digest as one UTF-8 JSON message."""
    del options  # the generic payload has no layout options
    body = json.dumps(digest_payload(digest), ensure_ascii=False, separators=(",", ":"))
    return [Message(body=body.encode("utf-8"), content_type=JSON_CONTENT_TYPE, part=1, parts=1)]
