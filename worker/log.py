"""Logging: JSON lines when not on a terminal, readable lines on one; secrets redacted.

Every log record may carry extra fields (`feed`, `delivery_id`, `duration_ms`, ...);
both formats print them. Any string registered with `redact()` (webhook URLs, secrets)
is replaced by `[redacted]` wherever it appears in a message or a field.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from worker.models import Watchlist

_SECRETS: set[str] = set()
TOKEN_LENGTH = 16
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(*values: str | None) -> None:
    """Never print these strings (webhook URLs and secrets) in a log line."""
    _SECRETS.update(value for value in values if value and len(value) >= 8)


def redact_url(url: str) -> None:
    """Never print a webhook URL, nor its path, query or password (where tokens live)."""
    redact(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    redact(parts.password, parts.query)
    if parts.path:
        redact(parts.path + (f"?{parts.query}" if parts.query else ""))
        # a long path segment is a token (Slack, Discord, Teams); short ones are plain words
        redact(*(segment for segment in parts.path.split("/") if len(segment) >= TOKEN_LENGTH))


def redact_watchlists(watchlists: Iterable[Watchlist]) -> None:
    """Register every webhook URL and signing secret of these watchlists with `redact`."""
    for watchlist in watchlists:
        for hook in watchlist.webhooks:
            redact_url(hook.url)
            redact(hook.secret, *hook.secrets_previous)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(payload, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += "  " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


def setup_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure the root logger once, for the CLI."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
