"""The delivery retry policy: verdicts, Retry-After, the retry schedule, retired Teams URLs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from worker.delivery.policy import (
    DEFAULT_RETRY_SCHEDULE,
    MAX_RETRY_AFTER_SECONDS,
    Outcome,
    classify,
    is_retired_teams_url,
    next_attempt_at,
    parse_retry_after,
)

NOW = datetime(2025, 2, 8, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    """Any 2xx answer counts as delivered."""
    assert classify(status, None, "json") is Outcome.DELIVERED


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 408, 409, 425, 429])
def test_server_errors_and_throttling_are_retried(status: int) -> None:
    """5xx, timeouts, conflicts, too-early and rate limits are retried later."""
    assert classify(status, None, "json") is Outcome.RETRY


@pytest.mark.parametrize("kind", ["timeout", "connect", "network", None])
def test_no_response_is_retried(kind: str | None) -> None:
    """A network error or timeout with no response is retried later."""
    assert classify(None, kind, "slack") is Outcome.RETRY


def test_refused_address_is_permanent() -> None:
    """A destination the address guard refused is not retried."""
    assert classify(None, "refused", "json") is Outcome.PERMANENT


@pytest.mark.parametrize("status", [301, 302, 307, 308, 400, 401, 403, 413, 422])
def test_redirects_and_client_errors_are_permanent(status: int) -> None:
    """Redirects are not followed and other 4xx answers are not retried."""
    assert classify(status, None, "json") is Outcome.PERMANENT


@pytest.mark.parametrize("platform", ["json", "slack", "discord", "teams", "apprise"])
def test_410_disables_the_destination(platform: str) -> None:
    """410 Gone disables the destination on every platform."""
    assert classify(410, None, platform) is Outcome.DISABLE_DESTINATION


@pytest.mark.parametrize(
    ("platform", "outcome"),
    [
        ("slack", Outcome.DISABLE_DESTINATION),
        ("discord", Outcome.DISABLE_DESTINATION),
        ("json", Outcome.PERMANENT),
        ("teams", Outcome.PERMANENT),
    ],
)
def test_404_disables_only_slack_and_discord(platform: str, outcome: Outcome) -> None:
    """Slack and Discord answer 404 for a deleted webhook, so only there it disables."""
    assert classify(404, None, platform) is outcome


def test_retry_after_in_seconds() -> None:
    """A Retry-After of delay seconds is read as seconds."""
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 1.5 ", NOW) == 1.5


def test_retry_after_as_http_date() -> None:
    """A Retry-After HTTP date is turned into seconds from now."""
    assert parse_retry_after("Sat, 08 Feb 2025 09:02:00 GMT", NOW) == 120.0


def test_retry_after_in_the_past_means_now() -> None:
    """A date already past, or a negative number, means no wait."""
    assert parse_retry_after("Sat, 08 Feb 2025 08:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("-5", NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Someday, 99 Foo"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    """A missing or unreadable Retry-After gives None."""
    assert parse_retry_after(value, NOW) is None


def test_first_attempt_is_immediate_and_unjittered() -> None:
    """Before any attempt the message goes out at once."""
    assert next_attempt_at(NOW, 0, DEFAULT_RETRY_SCHEDULE, None, random.Random(1)) == NOW


def test_schedule_follows_standard_webhooks_with_jitter() -> None:
    """Each retry waits the scheduled delay within plus or minus 20 percent."""
    rng = random.Random(7)
    for attempts, delay in enumerate(DEFAULT_RETRY_SCHEDULE):
        when = next_attempt_at(NOW, attempts, DEFAULT_RETRY_SCHEDULE, None, rng)
        assert when is not None
        waited = (when - NOW).total_seconds()
        assert delay * 0.8 <= waited <= delay * 1.2


def test_jitter_spreads_retries() -> None:
    """Two deliveries failing together do not retry at the same instant."""
    times = {
        next_attempt_at(NOW, 3, DEFAULT_RETRY_SCHEDULE, None, random.Random(seed))
        for seed in range(20)
    }
    assert len(times) > 10


def test_schedule_exhausted_means_dead_letter() -> None:
    """After the last scheduled attempt there is no next attempt."""
    attempts = len(DEFAULT_RETRY_SCHEDULE)
    assert next_attempt_at(NOW, attempts, DEFAULT_RETRY_SCHEDULE, None, random.Random()) is None


def test_retry_after_is_a_floor() -> None:
    """A receiver's Retry-After longer than the schedule delays the retry to it."""
    when = next_attempt_at(NOW, 1, DEFAULT_RETRY_SCHEDULE, 600.0, random.Random(3))
    assert when == NOW + timedelta(seconds=600)


def test_short_retry_after_does_not_hurry_the_schedule() -> None:
    """A Retry-After shorter than the scheduled delay leaves the schedule in charge."""
    when = next_attempt_at(NOW, 3, DEFAULT_RETRY_SCHEDULE, 1.0, random.Random(3))
    assert when is not None
    assert when - NOW >= timedelta(seconds=1800 * 0.8)


def test_retry_after_is_capped_at_a_day() -> None:
    """A Retry-After of a year waits one day, not a year."""
    when = next_attempt_at(NOW, 1, DEFAULT_RETRY_SCHEDULE, 365 * 86400.0, random.Random(3))
    assert when == NOW + timedelta(seconds=MAX_RETRY_AFTER_SECONDS)


def test_same_seed_same_schedule() -> None:
    """With the same seed the policy gives the same times (no hidden clock or randomness)."""
    first = next_attempt_at(NOW, 2, DEFAULT_RETRY_SCHEDULE, None, random.Random(42))
    second = next_attempt_at(NOW, 2, DEFAULT_RETRY_SCHEDULE, None, random.Random(42))
    assert first == second


@pytest.mark.parametrize(
    "url",
    [
        "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456",
        "https://outlook.office.com/webhook/abc@def/IncomingWebhook/123/456",
        "https://OUTLOOK.OFFICE.COM/webhook/abc",
    ],
)
def test_office_connector_urls_are_recognised_as_retired(url: str) -> None:
    """Old Office 365 connector URLs are recognised so they can be refused clearly."""
    assert is_retired_teams_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke",
        "https://default123.environment.api.powerplatform.com/powerautomate/automations/x",
        "https://evil.example/webhook.office.com/webhook/",
        "https://notwebhook.office.com.evil.example/webhook/x",
        "not a url",
    ],
)
def test_workflows_and_other_urls_are_not_retired(url: str) -> None:
    """Power Automate Workflows URLs and look-alike hosts are not flagged."""
    assert not is_retired_teams_url(url)
