"""Tests of dedup text normalisation, content hashes and shingles."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import worker.dedup.text as dedup_text_module
from worker.dedup.fingerprint import fingerprint
from worker.dedup.shingles import (
    SAMPLE_MODULUS,
    SHINGLE_SIZE,
    STOP_SHINGLES,
    hash_words,
    sample,
    shingles,
)
from worker.dedup.text import content_hash, dedup_text, fold

BODY = (
    "The central bank raised its key rate by a quarter point on Tuesday, "
    "citing stubborn inflation in services."
)


def test_typography_and_case_do_not_matter() -> None:
    """Curly quotes, dashes, case and spacing give the same normalised text."""
    a = dedup_text("Bank’s “big” move — again", "It  RAISED rates.\n\nAgain!")
    b = dedup_text('bank\'s "big" move - again', "it raised rates. again")
    assert a == b


def test_nfkc_folds_compatibility_characters() -> None:
    """Full-width letters and ligatures fold to plain letters."""
    assert fold("ＡＢＣ ﬁnance") == "abc finance"


def test_agency_dateline_is_removed() -> None:
    """A dateline with an agency tag is not part of the story's text."""
    plain = dedup_text("", BODY)
    assert dedup_text("", f"TOKYO, Jan 7 (Reuters) - {BODY}") == plain
    assert dedup_text("", f"(Bloomberg) -- {BODY}") == plain


def test_byline_and_credits_are_removed() -> None:
    """Bylines, credit trailers and newsletter prompts are removed."""
    wrapped = (
        f"By Jane Doe and John Roe\n{BODY}\n"
        "Reporting by Jane Doe; Editing by Mark Potter\n"
        "Sign up for our daily briefing newsletter\n"
        "©2025 Bloomberg L.P.\n"
        "(Recasts, updates with minister's remarks)"
    )
    assert dedup_text("", wrapped) == dedup_text("", BODY)


def test_inline_credits_at_paragraph_end_are_removed() -> None:
    """A credit line glued to the last paragraph is removed with it."""
    glued = f"{BODY} Reporting by Jane Doe in Tokyo; Editing by Mark Potter"
    assert dedup_text("", glued) == dedup_text("", BODY)


def test_front_matter_is_removed() -> None:
    """YAML front matter of a stored article is not compared."""
    doc = f'---\ntitle: "x"\ndate: "2025-02-08"\n---\n{BODY}'
    assert dedup_text("", doc) == dedup_text("", BODY)


def test_sentence_starting_with_by_is_kept() -> None:
    """A sentence that starts with "By" but is not a byline stays."""
    text = "By the end of the year, exports had fallen sharply."
    assert dedup_text("", text) == fold(text)


def test_content_hash_is_stable_hex() -> None:
    """The content hash is a 64-character hex digest, equal for equal text."""
    digest = content_hash(dedup_text("T", BODY))
    assert len(digest) == 64
    assert digest == content_hash(dedup_text("t", BODY + "  "))


def test_shingles_fit_a_signed_bigint() -> None:
    """Every shingle hash fits a PostgreSQL BIGINT."""
    for value in shingles(fold(BODY)):
        assert -(2**63) <= value < 2**63


def test_shingle_count_follows_word_count() -> None:
    """A text of n distinct words has n - k + 1 shingles."""
    words = [f"w{i}" for i in range(20)]
    assert len(shingles(" ".join(words))) == 20 - SHINGLE_SIZE + 1


def test_short_text_gets_one_shingle() -> None:
    """A text shorter than one shingle still gets a signature of one hash."""
    assert shingles("rates rise") == frozenset({hash_words(["rates", "rise"])})
    assert shingles("") == frozenset()


def test_boilerplate_shingles_are_left_out() -> None:
    """Shingles of a credit line are not part of the signature."""
    signature = shingles(fold("people familiar with the matter said the talks would resume"))
    assert not signature & STOP_SHINGLES
    assert signature


def test_sample_keeps_the_hashes_that_are_multiples_of_the_modulus() -> None:
    """Sampling keeps exactly the shingles whose hash is a multiple of the modulus."""
    signature = shingles(fold(BODY))
    kept = sample(signature)
    assert kept == {h for h in signature if h % SAMPLE_MODULUS == 0}
    assert 0 < len(kept) < len(signature)


def test_sample_of_two_texts_keeps_their_shared_shingles_alike() -> None:
    """What two sampled signatures share is the sample of what the full ones share."""
    words = fold(BODY).split()
    first, second = shingles(" ".join(words[:40])), shingles(" ".join(words[10:]))
    assert sample(first) & sample(second) == sample(first & second)


def test_sample_never_empties_a_signature() -> None:
    """A signature none of whose hashes is sampled keeps its smallest hash."""
    odd = frozenset({3, 7, -5})
    assert sample(odd, 2) == frozenset({-5})
    assert sample(frozenset()) == frozenset()
    assert sample(odd, 1) == odd


def test_fingerprint_holds_the_sampled_shingles() -> None:
    """A fingerprint's shingles (what the index stores) are the sample of the text's."""
    print_ = fingerprint("Steel deal", BODY)
    assert print_.shingles == sample(shingles(print_.text))
    assert print_.size == len(print_.shingles)


@given(st.text(), st.text())
def test_dedup_text_never_raises_and_is_folded(title: str, body: str) -> None:
    """Any title and body give a text that folding leaves unchanged."""
    text = dedup_text(title, body)
    assert fold(text) == text


@given(st.text())
def test_shingles_never_raise(text: str) -> None:
    """Any normalised text gives a signature, non-empty when it has words."""
    normal = fold(text)
    assert bool(shingles(normal)) == bool(normal.split())


# Pieces of outlet boilerplate and of text around it, in the spellings that make the
# shortcuts of `strip_boilerplate` and `fold` earn their keep (or go wrong).
_PIECES = (
    "Reporting by Jane Doe; Editing by John Roe", "REPORTING BY", "reportıng by x editing by y",
    "TOKYO (Reuters) -", "(AP) —", "(kyodo):", "By Jane Doe and John Roe", "From Staff",
    "By", "© 2025 Reuters", "(c) Foo", "Copyright", "All rights reserved", "ALL RIGHTS RESERVED.",
    "all  rights\treſerved", "(Recasts, updates with X)", "[link](http://x)", "---", "|", "*",
    "•", "Sign up for our newsletter", "Subscribe now", "Click here", "Read more: x", "Related:",
    "Japan’s", "don't", "rock`n", "a´b", "foo_bar", "ﬁ", "½", "\u00a0", "steel tariff", "(",
    "Nippon Steel said", "---\ntitle: x\n---", "Copyright 2024 Reuters. All\nrights reserved.",
    "Share this\nAll rights reserved.\narticle", "Reporting\nAll rights reserved.\nby Jane Doe",
    "Reporting\nby all rights reserved",
)  # fmt: skip
_GLUE = (" ", "", "\n", "  ", "\n  ", ". ", " | ", "\t")


def _plain_strip(body: str) -> str:
    """`strip_boilerplate` without its shortcuts: every pattern over the whole text."""
    text = unicodedata.normalize("NFKC", body)
    for pattern in (dedup_text_module._FRONT_MATTER, dedup_text_module._INLINE_CREDITS,
                    dedup_text_module._DATELINE, dedup_text_module._BYLINE,
                    dedup_text_module._TRAILER):  # fmt: skip
        text = pattern.sub("", text)
    return text


def _plain_fold(text: str) -> str:
    """`fold` without its shortcuts."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"(?<=\w)['’ʼ`´](?=\w)", "", folded)
    return re.sub(r"[\W_]+", " ", folded).strip()


@settings(max_examples=400)
@example([("Copyright 2024 Reuters. All\nrights reserved.", "")])
@example([("Share this\nAll rights reserved.\narticle", "")])
@example([("Reporting\nby all rights reserved", "")])
@given(st.lists(st.tuples(st.sampled_from(_PIECES) | st.text(), st.sampled_from(_GLUE))))
def test_shortcuts_change_no_normalised_text(parts: list[tuple[str, str]]) -> None:
    """Skipping patterns a text cannot match, and matching one-line texts once, is exact."""
    body = "".join(piece + glue for piece, glue in parts)
    assert dedup_text("", body) == _plain_fold(_plain_strip(body))
    assert fold(body) == _plain_fold(body)


@given(st.lists(st.text(min_size=1).map(str.split).filter(bool).map("".join), min_size=4))
def test_shingle_hashes_are_the_hashes_of_their_words(words: list[str]) -> None:
    """Each shingle is `hash_words` of its k words, whatever their script."""
    windows = range(len(words) - SHINGLE_SIZE + 1)
    expected = {hash_words(words[i : i + SHINGLE_SIZE]) for i in windows} - STOP_SHINGLES
    assume(expected)
    assert shingles(" ".join(words)) == expected
