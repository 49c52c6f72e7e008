"""Sample digests for previews, webhook tests and benchmarks.

`sample_digest()` builds a believable digest without a database, so a user can send a
test message to a new destination and see what a real digest looks like.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.models import Digest, DigestStory, Hit, SourceRef

SAMPLE_GENERATED_AT = datetime(2025, 2, 8, 9, 0, tzinfo=UTC)

HOSTILE_TITLES: tuple[str, ...] = (
    "<!channel> Nippon Steel deal approved",
    "@everyone @here Nippon Steel shares jump",
    "<@U123ABC> and <@&987654321> and <#C42> Nippon Steel update",
    "Nippon Steel " + "very long headline " * 526,
    "**Nippon Steel** [click](https://evil.example/) `code` ~~strike~~ __u__ > quote # head",
    "</script><script>alert('Nippon Steel')</script>",
    "日本製鉄 Nippon Steel 🚀 ünïcödé — “quotes” & ampersands < > |pipes|",
    "Nippon Steel & U.S. Steel: <https://evil.example|fake link> \n\n newline\x00null",
)


def sample_story(
    index: int, *, title: str | None = None, base: datetime | None = None
) -> DigestStory:
    """One sample story; stories with a higher index are older."""
    published = (base or SAMPLE_GENERATED_AT) - timedelta(minutes=7 * index)
    headline = title if title is not None else f"Nippon Steel story number {index} on the U.S. deal"
    return DigestStory(
        story_id=index + 1,
        title=headline,
        url=f"https://news.example/{index}/nippon-steel-deal",
        source=f"Example Wire {index % 5}",
        published=published,
        summary=(
            f"Story {index}: Nippon Steel said on Saturday that talks continue. " * 12
        ).strip(),
        matched=("Nippon Steel",),
        hits=(
            Hit(term="Nippon Steel", field="title", snippet=f"... **Nippon Steel** {index} ..."),
        ),
        also_reported_by=(
            SourceRef(source="Other Paper", url=f"https://other.example/{index}"),
            SourceRef(source="Third Daily", url=f"https://third.example/{index}"),
        ),
    )


def sample_digest(
    stories: int = 3,
    *,
    hostile: bool = False,
    notices: tuple[str, ...] = (),
    timezone: str = "Asia/Tokyo",
) -> Digest:
    """A digest of `stories` sample stories, newest first; `hostile` adds attack titles."""
    items = [sample_story(i) for i in range(stories)]
    if hostile:
        start = len(items)
        items += [sample_story(start + i, title=title) for i, title in enumerate(HOSTILE_TITLES)]
    return Digest(
        id="dig_sample",
        watchlist="nippon-steel",
        generated_at=SAMPLE_GENERATED_AT,
        timezone=timezone,
        stories=tuple(items),
        notices=notices,
    )
