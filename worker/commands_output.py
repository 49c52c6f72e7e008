"""Plain-text tables and JSON for the operator commands: pure formatting, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit

Cell = str | int | float | bool | datetime | None


def cell(value: Cell) -> str:
    """One value as a table shows it: UTC times to the second, `-` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def when(value: datetime | None) -> str:
    """A UTC time as `2025-01-31 08:00:00Z`, or `-`."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def truncate(text: str | None, width: int) -> str | None:
    """`text` on one line and at most `width` characters (an ellipsis marks a cut)."""
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """An aligned plain-text table with a header line; numbers are right-aligned."""
    texts = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in texts:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) and not isinstance(row[i], bool)
                           for row in rows if row[i] is not None)
        for i in range(len(headers))
    ]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in texts:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def json_value(value: Cell) -> str | int | float | bool | None:
    """A value as JSON carries it: times as ISO 8601 UTC with `Z`."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def json_rows(rows: Sequence[Mapping[str, Cell]]) -> str:
    """A listing as an indented JSON array of objects."""
    return json.dumps(
        [{key: json_value(value) for key, value in row.items()} for row in rows],
        indent=2,
        ensure_ascii=False,
    )


def host_of(url: str) -> str:
    """Only the host of a URL (webhook URLs carry tokens in their path and query)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def human_bytes(size: int) -> str:
    """A byte count as `12.3 KiB`."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns
