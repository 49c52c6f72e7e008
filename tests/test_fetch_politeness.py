"""When the next poll happens: interval, jitter, backoff and the server's floors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.fetch.politeness import (
    MAX_BACKOFF,
    cache_floor,
    next_poll_at,
    parse_retry_after,
    response_now,
)

NOW = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def poll(**kwargs: object) -> timedelta:
    """Return the delay next_poll_at chooses, with no jitter unless asked."""
    kwargs.setdefault("jitter_fraction", 0.0)
    return next_poll_at(NOW, kwargs.pop("interval", HOUR), **kwargs) - NOW  # type: ignore[arg-type]


def test_healthy_feed_waits_its_interval() -> None:
    """A feed without failures is polled again after its interval."""
    assert poll() == HOUR


def test_jitter_only_lengthens_the_wait() -> None:
    """Jitter adds up to the given fraction of the interval, never less than the interval."""
    rng = random.Random(7)
    delays = [poll(jitter_fraction=0.2, rng=rng) for _ in range(200)]
    assert all(HOUR <= d <= HOUR * 1.2 for d in delays)
    assert len(set(delays)) > 100


def test_failures_double_the_wait() -> None:
    """Each consecutive failure doubles the wait."""
    assert [poll(consecutive_failures=n) for n in range(4)] == [HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR]


def test_backoff_is_capped_at_a_day_and_never_gives_up() -> None:
    """However many failures, the wait stops growing at 24 hours and a poll is still planned."""
    assert poll(consecutive_failures=10_000) == MAX_BACKOFF


def test_long_interval_is_not_shortened_by_the_cap() -> None:
    """A feed polled every two days is not polled sooner because it failed."""
    assert poll(interval=timedelta(days=2), consecutive_failures=3) == timedelta(days=2)


def test_retry_after_is_a_floor() -> None:
    """A Retry-After longer than the interval pushes the next poll back."""
    assert poll(interval=timedelta(minutes=5), retry_after_seconds=1800) == timedelta(minutes=30)


def test_cache_floor_and_ttl_are_floors() -> None:
    """Cache lifetime and RSS ttl each hold the next poll back, the longest winning."""
    delay = poll(interval=timedelta(minutes=5), cache_floor_seconds=600, ttl_minutes=45)
    assert delay == timedelta(minutes=45)


def test_floors_are_capped_at_a_day() -> None:
    """A server asking for a year of quiet is still polled daily."""
    assert poll(cache_floor_seconds=365 * 86400) == MAX_BACKOFF


@given(
    failures=st.integers(0, 10_000),
    interval_minutes=st.integers(1, 24 * 60),
    jitter=st.floats(0, 1),
    floor=st.none() | st.floats(0, 10**9),
)
def test_next_poll_is_always_in_the_future_and_bounded(
    failures: int, interval_minutes: int, jitter: float, floor: float | None
) -> None:
    """The next poll is after now and at most twice the day cap away."""
    delay = next_poll_at(
        NOW,
        timedelta(minutes=interval_minutes),
        jitter,
        failures,
        floor,
        None,
        random.Random(1),
    )
    assert NOW < delay <= NOW + 2 * MAX_BACKOFF


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        ("Tue, 14 May 2024 12:10:00 GMT", 600),
        ("Tue, 14 May 2024 11:00:00 GMT", 0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_date(value: str | None, seconds: float | None) -> None:
    """Retry-After is read as a delay in seconds or as an HTTP date relative to now."""
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("cache_control", "expires", "seconds"),
    [
        ("max-age=300", None, 300),
        ("public, max-age=60, must-revalidate", "Tue, 14 May 2024 13:00:00 GMT", 60),
        (None, "Tue, 14 May 2024 13:00:00 GMT", 3600),
        (None, "Tue, 14 May 2024 11:00:00 GMT", None),
        ("no-cache, max-age=300", None, None),
        ("no-store", None, None),
        (None, "0", None),
        (None, None, None),
    ],
)
def test_cache_floor_reads_max_age_then_expires(
    cache_control: str | None, expires: str | None, seconds: float | None
) -> None:
    """max-age wins over Expires; no-cache, no-store and past dates give no floor."""
    assert cache_floor(cache_control, expires, NOW) == seconds


def test_server_date_is_used_as_now_when_valid() -> None:
    """The server's Date header is the reference time; a bad one falls back to ours."""
    assert response_now("Tue, 14 May 2024 12:00:00 GMT", NOW - HOUR) == NOW
    assert response_now("garbage", NOW) == NOW
