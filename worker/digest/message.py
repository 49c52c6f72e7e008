"""The values a renderer hands back: messages ready to send, and the options it takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Message:
    """One request body for one destination; `part` counts from 1 up to `parts`."""

    body: bytes
    content_type: str
    part: int
    parts: int


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How text formats lay out a digest.

    `summary_chars` trims each summary at a word boundary; `template_dir` may hold
    `<format>_story.md.j2` files that replace the built-in per-story text.
    """

    summary_chars: int = 300
    template_dir: Path | None = None
    title: str | None = None


JSON_CONTENT_TYPE = "application/json"
