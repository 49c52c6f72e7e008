"""Tests of canonical URLs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from worker.dedup.canonical import canonical_url


def test_utm_parameters_are_removed() -> None:
    """Every utm_* parameter disappears while content parameters stay."""
    url = "https://example.com/story?id=7&utm_source=rss&utm_medium=feed&UTM_Campaign=x"
    assert canonical_url(url) == "https://example.com/story?id=7"


def test_click_ids_are_removed() -> None:
    """Facebook, Google, Mailchimp and Instagram click ids are removed."""
    url = "https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&igshid=5"
    assert canonical_url(url) == "https://example.com/a"


def test_ref_tag_is_removed_but_ref_path_is_kept() -> None:
    """A short referrer tag goes, a `ref` holding a path stays."""
    assert canonical_url("https://example.com/a?ref=rss") == "https://example.com/a"
    assert canonical_url("https://example.com/a?ref_src=twsrc%5Etfw") == "https://example.com/a"
    kept = canonical_url("https://example.com/a?ref=/sections/world/")
    assert kept.startswith("https://example.com/a?ref=")


def test_scheme_and_host_are_lowercased() -> None:
    """Scheme and host compare case-insensitively, the path does not."""
    assert canonical_url("HTTPS://Example.COM/Path") == "https://example.com/Path"


def test_default_ports_are_dropped() -> None:
    """Port 443 on https and 80 on http are dropped, other ports stay."""
    assert canonical_url("https://example.com:443/a") == "https://example.com/a"
    assert canonical_url("http://example.com:80/a") == "http://example.com/a"
    assert canonical_url("http://example.com:8080/a") == "http://example.com:8080/a"


def test_fragment_is_dropped() -> None:
    """The fragment never names a different article."""
    assert canonical_url("https://example.com/a#comments") == "https://example.com/a"


def test_trailing_slash_is_dropped_but_root_stays() -> None:
    """A trailing slash goes, the root path `/` stays."""
    assert canonical_url("https://example.com/news/") == "https://example.com/news"
    assert canonical_url("https://example.com") == "https://example.com/"
    assert canonical_url("https://example.com/") == "https://example.com/"


def test_query_parameters_are_sorted() -> None:
    """Two orders of the same parameters give the same URL."""
    assert canonical_url("https://e.com/a?b=2&a=1") == canonical_url("https://e.com/a?a=1&b=2")


def test_needless_escapes_are_decoded() -> None:
    """An escaped letter is decoded, an escaped slash is kept in upper case."""
    assert canonical_url("https://e.com/%7euser/%61b%2fc") == "https://e.com/~user/ab%2Fc"


def test_unparseable_input_comes_back_stripped() -> None:
    """Text that is not an http(s) URL is returned stripped, not raised on."""
    assert canonical_url("  not a url ") == "not a url"
    assert canonical_url("http://[::1") == "http://[::1"
    assert canonical_url("mailto:a@b.c") == "mailto:a@b.c"


def test_same_article_from_two_shares_is_equal() -> None:
    """Two shares of one article with different trackers give one URL."""
    a = "https://News.example.com:443/world/story-1/?utm_source=twitter&fbclid=abc#top"
    b = "https://news.example.com/world/story-1?ref=rss"
    assert canonical_url(a) == canonical_url(b)


@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    """Any text at all gives a string back."""
    assert isinstance(canonical_url(text), str)


@given(st.text())
def test_idempotent_on_any_text(text: str) -> None:
    """Canonicalising twice changes nothing more than once."""
    once = canonical_url(text)
    assert canonical_url(once) == once


@given(
    urls(),
    st.lists(
        st.tuples(st.sampled_from(["utm_source", "id", "q", "ref", "fbclid", "a b"]), st.text()),
        max_size=4,
    ),
)
def test_idempotent_on_urls_with_queries(url: str, params: list[tuple[str, str]]) -> None:
    """Canonicalising a URL with arbitrary query parameters twice changes nothing more."""
    query = "&".join(f"{k}={v}" for k, v in params)
    full = f"{url.split('#')[0]}?{query}" if query else url
    once = canonical_url(full)
    assert canonical_url(once) == once
