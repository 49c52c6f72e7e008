"""Text folding for matching: what counts as the same word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.textnorm import fold, fold_with_offsets, normalize, stem, words
from worker.watchlists.textfold import WORD_RE, fold_char, raw_words, word_spans


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("United\u00a0States Steel", "united states steel"),
        ("U.S. Steel", "us steel"),
        ("U.S.A.", "usa"),
        ("Nippon-Steel", "nippon steel"),
        ("United States\u2013Japan", "united states japan"),
        ("\u201cNippon Steel\u201d", "nippon steel"),
        ("Nippon Steel\u2019s bid", "nippon steel bid"),
        ("Don't", "dont"),
        ("Société Générale", "societe generale"),
        ("Ørsted", "orsted"),
        ("\uff33\uff54\uff45\uff45\uff4c", "steel"),
        ("Tar\u00adiff", "tariff"),
        ("example.com", "example com"),
        ("3.5% rise", "3 5 rise"),
    ],
    ids=[
        "no-break-space",
        "initialism",
        "initialism-three",
        "hyphen",
        "en-dash",
        "curly-quotes",
        "curly-possessive",
        "apostrophe",
        "diacritics",
        "spelled-letter",
        "fullwidth",
        "soft-hyphen",
        "domain-not-initialism",
        "decimal",
    ],
)
def test_normalize(text: str, expected: str) -> None:
    """Feeds' spellings of a word normalise to the same comparison form."""
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("tariffs", "tariff"),
        ("companies", "company"),
        ("taxes", "tax"),
        ("matches", "match"),
        ("bosses", "boss"),
        ("steely", "steely"),
        ("boss", "boss"),
        ("gas", "gas"),
        ("analysis", "analysis"),
        ("news", "news"),
        ("us", "us"),
    ],
)
def test_stem_removes_one_plural_ending(word: str, expected: str) -> None:
    """The plural rule strips one English plural ending and leaves other words alone."""
    assert stem(word) == expected


def test_spans_map_back_to_the_original_text() -> None:
    """A word's span in folded text maps back to the same word in the original."""
    text = "Ligature \ufb01le and Tar\u00adiff"
    folded, offsets = fold_with_offsets(text)
    assert offsets is not None
    found = {w.lower: (offsets[w.start], offsets[w.end - 1] + 1) for w in words(folded)}
    start, end = found["tariff"]
    assert text[start:end] == "Tar\u00adiff"
    start, end = found["file"]
    assert text[start:end] == "\ufb01le"


def test_cased_form_is_kept() -> None:
    """Words keep their case for case-sensitive terms, without dots."""
    assert [w.cased for w in words(fold("U.S. Steel's USS"))] == ["US", "Steel", "USS"]


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    """Folding folded text changes nothing."""
    once = fold(text)
    assert fold(once) == once


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    """Normalising a normalised text changes nothing."""
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_offsets_cover_the_folded_text(text: str) -> None:
    """The offset map has one entry per folded character and never goes backwards."""
    folded, offsets = fold_with_offsets(text)
    if offsets is None:
        assert len(folded) == len(text)
    else:
        assert len(offsets) == len(folded) + 1
        assert offsets == sorted(offsets)


# Letters, digits, dots, apostrophes and separators, ASCII or not: every path of the splitter.
SPLITTABLE = st.text(
    alphabet=st.sampled_from([*"abSU19 .'`-_,\n\u2019\u00e9\u00df\u00a0\u00bd\u0130", "\ufb01"]),
    max_size=40,
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(SPLITTABLE, st.text(max_size=40)))
def test_fast_word_splitting_agrees_with_the_pattern(text: str) -> None:
    """The fast ways of splitting folded text give the same words as `WORD_RE` itself."""
    folded = fold(text)
    assert raw_words(folded) == WORD_RE.findall(folded)
    assert [m.span() for m in word_spans(folded)] == [m.span() for m in WORD_RE.finditer(folded)]


@settings(max_examples=800, deadline=None)
@given(st.one_of(SPLITTABLE, st.text(max_size=40)))
def test_offsets_fold_as_fold_does(text: str) -> None:
    """`fold_with_offsets` folds as `fold` does, and maps indexes only when lengths change."""
    folded, offsets = fold_with_offsets(text)
    assert folded == fold(text)
    assert (offsets is None) == all(len(fold(char)) == 1 for char in text)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(SPLITTABLE, st.text(max_size=60), st.text(min_size=40, max_size=80)))
def test_fold_folds_each_non_ascii_character(text: str) -> None:
    """`fold` gives each non-ASCII character's own folding, however many distinct ones."""
    expected = "".join(char if char.isascii() else fold_char(char) for char in text)
    assert fold(text) == expected
