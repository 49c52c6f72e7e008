"""What to do after a delivery attempt: the retry policy, as pure functions.

Nothing here reads the clock or sends anything; the sender passes `now`, the response
status (or the kind of network error) and a seeded `random.Random`.

How an attempt is judged (`classify`):

- 2xx: delivered.
- No response (connection error, timeout), 5xx, 408, 409, 425, 429: retry later.
- 410 Gone, and for Slack and Discord also 404 (their answer for a deleted webhook):
  disable the destination; retrying cannot help and a person must fix the URL.
- 3xx (redirects are not followed, since a redirect could point anywhere) and any other
  4xx: a permanent failure of this message.

When to retry (`next_attempt_at`): the Standard Webhooks schedule, attempt by attempt —
immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h — each delay after the first jittered by
±20% so many failed deliveries do not return at once. A `Retry-After` from the receiver
is a floor on the delay, capped at one day. When the schedule is used up the answer is
`None`: the message goes to the dead letters.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER_SECONDS = 86_400.0

RETRY_STATUSES = frozenset({408, 409, 425, 429})
GONE_STATUSES: dict[str, frozenset[int]] = {
    "slack": frozenset({404, 410}),
    "discord": frozenset({404, 410}),
}
DEFAULT_GONE_STATUSES = frozenset({410})
PERMANENT_ERROR_KINDS = frozenset({"refused", "invalid_url", "unsupported_scheme"})

RETIRED_TEAMS_MESSAGE = (
    "this is an Office 365 connector URL (…webhook.office.com/webhookb2/…); Microsoft "
    "retired those connectors. Create a Workflows webhook in Teams (Power Automate: "
    "'Post to a channel when a webhook request is received') and use its URL instead."
)


class Outcome(enum.Enum):
    """The verdict on one delivery attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"
    DISABLE_DESTINATION = "disable_destination"


def classify(status: int | None, error_kind: str | None, platform: str) -> Outcome:
    """Judge an attempt from its HTTP status, or from the kind of error if none came back."""
    if status is None:
        if error_kind in PERMANENT_ERROR_KINDS:
            return Outcome.PERMANENT
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in GONE_STATUSES.get(platform, DEFAULT_GONE_STATUSES):
        return Outcome.DISABLE_DESTINATION
    if status in RETRY_STATUSES or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.PERMANENT


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def next_attempt_at(
    now: datetime,
    attempts_made: int,
    schedule: Sequence[float],
    retry_after: float | None,
    rng: random.Random,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None if the schedule is used up.

    `schedule[n]` is the delay before attempt n+1 (so `schedule[0]` is the first send).
    """
    if attempts_made < 0:
        raise ValueError("attempts_made must not be negative")
    if attempts_made >= len(schedule):
        return None
    delay = float(schedule[attempts_made])
    if attempts_made > 0:
        delay *= rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS))
    return now + timedelta(seconds=delay)


def is_retired_teams_url(url: str) -> bool:
    """Whether `url` is a retired Office 365 connector webhook rather than a Workflows one."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    office_host = any(
        host == domain or host.endswith("." + domain)
        for domain in ("webhook.office.com", "outlook.office.com")
    )
    path = parts.path
    return office_host and any(
        mark in path for mark in ("/webhook/", "/webhookb2/", "IncomingWebhook")
    )
