"""When to poll a feed next, and what the server's headers ask of us. Pure: no clock reads.

How the next poll time is chosen:

* the feed's interval, stretched by a random jitter of up to `jitter_fraction` so feeds
  added together drift apart (jitter only ever lengthens the wait);
* after consecutive failures, the interval doubles per failure, capped at
  `MAX_BACKOFF` (24 hours) but never below the interval itself; a feed is never given up;
* floors the server asked for are respected: `Retry-After` (on 429 and 503),
  `Cache-Control: max-age` / `Expires`, and the RSS `<ttl>`; each floor is itself
  capped at `MAX_BACKOFF`, so a server asking for a year is polled daily.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_BACKOFF = timedelta(hours=24)
_MAX_EXPONENT = 20  # 2**20 intervals is far past any cap; keeps the arithmetic small


def next_poll_at(
    now: datetime,
    interval: timedelta,
    jitter_fraction: float = 0.1,
    consecutive_failures: int = 0,
    retry_after_seconds: float | None = None,
    cache_floor_seconds: float | None = None,
    rng: random.Random | None = None,
    *,
    ttl_minutes: int | None = None,
) -> datetime:
    """Return when to poll a feed next, from its interval, failures and the server's floors."""
    delay = interval
    if consecutive_failures > 0:
        stretched = interval * 2 ** min(consecutive_failures, _MAX_EXPONENT)
        delay = max(interval, min(stretched, MAX_BACKOFF))
    if jitter_fraction > 0:
        delay += delay * (rng or random.Random()).uniform(0, jitter_fraction)
    floors = [
        timedelta(seconds=seconds)
        for seconds in (retry_after_seconds, cache_floor_seconds)
        if seconds is not None and seconds > 0
    ]
    if ttl_minutes is not None and ttl_minutes > 0:
        floors.append(timedelta(minutes=ttl_minutes))
    for floor in floors:
        delay = max(delay, min(floor, MAX_BACKOFF))
    return now + delay


def _http_date(value: str) -> datetime | None:
    """Return an HTTP date as an aware UTC datetime, or None when it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a `Retry-After` header asks to wait (delta or HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    when = _http_date(text)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def cache_floor(cache_control: str | None, expires: str | None, now: datetime) -> float | None:
    """Return the freshness lifetime in seconds from `Cache-Control` or `Expires`, or None.

    `max-age` wins over `Expires`; `no-cache` and `no-store` give no floor.
    """
    directives: dict[str, str] = {}
    for part in (cache_control or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            directives[name.lower()] = argument.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return None
    max_age = directives.get("max-age", "")
    if max_age.isdigit():
        return float(max_age) or None
    if expires:
        when = _http_date(expires)
        if when is not None:
            seconds = (when - now).total_seconds()
            return seconds if seconds > 0 else None
    return None


def response_now(date_header: str | None, fallback: datetime) -> datetime:
    """Return the server's `Date` as now when it is valid, else the caller's clock."""
    parsed = _http_date(date_header) if date_header else None
    return parsed or fallback
