"""Text helpers: trimming at word boundaries and platform escaping."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from worker.digest.text import (
    escape_discord,
    escape_slack,
    fit_markup,
    human_time,
    text_length,
    trim_words,
    utc_z,
)


def test_trim_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    """A long sentence is cut between words and marked with an ellipsis."""
    assert trim_words("the quick brown fox jumps", 16) == "the quick brown…"


def test_trim_leaves_short_text_alone() -> None:
    """Text within the limit is returned unchanged."""
    assert trim_words("short", 10) == "short"


def test_trim_cuts_a_single_huge_word() -> None:
    """A word longer than the limit is cut mid-word rather than dropped."""
    assert trim_words("x" * 50, 10) == "x" * 9 + "…"


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_trim_never_exceeds_the_limit(text: str, limit: int) -> None:
    """Whatever the text, the result fits the limit."""
    assert len(trim_words(text, limit)) <= limit


@given(st.text(), st.integers(min_value=1, max_value=400))
def test_fit_markup_never_exceeds_the_limit(text: str, limit: int) -> None:
    """Whatever the markup, the result fits the limit in UTF-16 units."""
    assert text_length(fit_markup(escape_slack(text), limit)) <= limit


def test_fit_markup_never_leaves_half_a_slack_link() -> None:
    """A cut inside `<url|label>` drops the partial link instead of sending broken markup."""
    text = "see <https://news.example/a/very/long/path|a long label here> now"
    assert fit_markup(text, 40) == "see…"


def test_fit_markup_never_leaves_half_an_entity() -> None:
    """A cut inside `&amp;` drops the partial entity."""
    assert fit_markup("AT&amp;T AT&amp;T AT&amp;T", 12) == "AT&amp;T…"


def test_slack_escaping_is_only_the_three_characters() -> None:
    """Slack escaping touches `&`, `<` and `>` and nothing else."""
    assert escape_slack("a & b <!here> *bold* _it_") == "a &amp; b &lt;!here&gt; *bold* _it_"


@given(st.text())
def test_discord_escaping_leaves_no_live_mention(text: str) -> None:
    """No escaped text contains an `@` directly followed by a name or a `<@` tag."""
    escaped = escape_discord(text)
    assert "<@" not in escaped
    assert "@everyone" not in escaped
    assert "@here" not in escaped


def test_times_are_utc_z_and_local_for_people() -> None:
    """UTC times end in Z; people see the digest's local time and zone name."""
    moment = datetime(2025, 2, 8, 9, 0, tzinfo=UTC)
    assert utc_z(moment) == "2025-02-08T09:00:00Z"
    assert human_time(moment, "Asia/Tokyo") == "2025-02-08 18:00 JST"
    assert human_time(moment, "Not/AZone") == "2025-02-08 09:00 UTC"


def test_emoji_count_double_in_utf16() -> None:
    """Length limits count an emoji as two units, as the platforms may."""
    assert text_length("🚀a") == 3
