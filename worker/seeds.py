"""Seed articles: the texts the user has already read.

A seed file is plain text, optionally opening with YAML front matter between `---` lines
(`title`, `date`, `source_url`/`url`/`link`, `summary`). Without front matter, the first
non-empty line is the title.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

SEED_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A parsed seed article."""

    path: str
    title: str
    text: str
    source_url: str | None
    published: datetime | None
    file_hash: str


def parse_seed(path: str, raw: bytes) -> SeedFile:
    """Parse one seed file's bytes (UTF-8, BOM tolerated)."""
    content = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
    meta, body = _split_front_matter(content)
    title = str(meta.get("title") or "").strip() or _first_line(body)
    source = meta.get("source_url") or meta.get("url") or meta.get("link")
    return SeedFile(
        path=path,
        title=title,
        text=body.strip(),
        source_url=str(source) if source else None,
        published=_parse_date(meta.get("date") or meta.get("published_time")),
        file_hash=hashlib.sha256(raw).hexdigest(),
    )


def iter_seed_files(directory: Path) -> Iterator[SeedFile]:
    """Every seed file below `directory`, sorted by path."""
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in SEED_SUFFIXES:
            yield parse_seed(path.relative_to(directory).as_posix(), path.read_bytes())


def _split_front_matter(content: str) -> tuple[dict[str, object], str]:
    if not content.startswith("---\n"):
        return {}, content
    end = content.find("\n---", 4)
    if end == -1:
        return {}, content
    try:
        meta = yaml.safe_load(content[4:end])
    except yaml.YAMLError:
        return {}, content
    body = content[end + 4 :].lstrip("-").lstrip("\n")
    return (meta if isinstance(meta, dict) else {}), body


def _first_line(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _parse_date(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
