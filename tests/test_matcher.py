"""The compiled matcher: which watchlists a story matches, with hits and snippets."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.errors import QuerySyntaxError
from worker.models import Document, Watchlist
from worker.watchlists import Matcher, explain, load_watchlists
from worker.watchlists.docindex import DocIndex
from worker.watchlists.gate import Gate, gate_text
from worker.watchlists.matcher import compile_watchlist, evaluate
from worker.watchlists.query import Query, Term
from worker.watchlists.textfold import WORD_RE, fold, fold_with_offsets, words

REPO = Path(__file__).resolve().parent.parent
US_STEEL = ("=U.S. Steel", "=US Steel", "United States Steel", "=USS")


def watchlist(name: str, query: str, **extra: object) -> Watchlist:
    fields: dict[str, object] = {
        "feeds": (),
        "schedule": "0 8 * * *",
        "timezone": "UTC",
        "webhooks": (),
        "aliases": (("us_steel", US_STEEL),),
    }
    fields.update(extra)
    return Watchlist(name=name, query=query, **fields)  # type: ignore[arg-type]


def names(matcher: Matcher, title: str, summary: str = "", **doc: str | None) -> list[str]:
    return [m.watchlist for m in matcher.match(Document(title, summary, **doc))]


def test_phrase_matches_across_no_break_space() -> None:
    """A phrase matches a feed that writes it with a no-break space."""
    matcher = Matcher.compile([watchlist("n", '"United States Steel"')])
    assert names(matcher, "Order on United\u00a0States Steel Corporation") == ["n"]


def test_alias_with_case_sensitive_phrases_tells_company_from_industry() -> None:
    """`us_steel` finds U.S. Steel the company but not "U.S. steel tariffs"."""
    matcher = Matcher.compile([watchlist("us", "us_steel")])
    assert names(matcher, "U.S. Steel shares jump") == ["us"]
    assert names(matcher, "US Steel shares jump") == ["us"]
    assert names(matcher, "Nippon buys United States Steel") == ["us"]
    assert names(matcher, "U.S. steel tariffs to rise") == []


def test_only_matching_watchlists_are_returned_in_order() -> None:
    """Several watchlists: a story gets the ones it matches, in watchlist order."""
    matcher = Matcher.compile(
        [watchlist("a", "tariff*"), watchlist("b", "aluminum"), watchlist("c", "steel")]
    )
    assert names(matcher, "Steel tariffs rise") == ["a", "c"]


def test_hit_names_term_field_and_marks_snippet() -> None:
    """A hit records the query term, the field, and a snippet with `**` around the words."""
    matcher = Matcher.compile([watchlist("n", '"Nippon Steel" AND deal')])
    summary = "After a long review, " + "the deal between Nippon Steel and its partner " * 4
    (match,) = matcher.match(Document("Deal approved", summary))
    by_field = {(hit.term, hit.field): hit.snippet for hit in match.hits}
    assert by_field[("deal", "title")] == "**Deal** approved"
    snippet = by_field[("Nippon Steel", "summary")]
    assert "**Nippon Steel**" in snippet
    assert len(snippet) <= 140
    assert match.matched == ("deal", "Nippon Steel")


def test_feed_scope_applies_only_when_the_story_names_its_feed() -> None:
    """A watchlist with feeds ignores stories from other feeds, not stories without one."""
    matcher = Matcher.compile([watchlist("n", "steel", feeds=("https://a.test/rss",))])
    assert names(matcher, "Steel", feed_url="https://a.test/rss") == ["n"]
    assert names(matcher, "Steel", feed_url="https://b.test/rss") == []
    assert names(matcher, "Steel") == ["n"]


def test_languages_apply_only_when_the_story_declares_one() -> None:
    """`languages` drops stories in other languages and keeps stories without one."""
    matcher = Matcher.compile([watchlist("n", "steel", languages=("en",))])
    assert names(matcher, "Steel", language="en-US") == ["n"]
    assert names(matcher, "Steel", language="fr") == []
    assert names(matcher, "Steel") == ["n"]


def test_exclude_drops_a_story_the_query_matches() -> None:
    """A story matching `exclude` is not matched."""
    matcher = Matcher.compile([watchlist("n", "steel", exclude="title:podcast")])
    assert names(matcher, "Steel podcast") == []
    assert names(matcher, "Steel prices", "a podcast") == ["n"]


def test_min_terms_counts_distinct_terms() -> None:
    """`min_terms` needs that many distinct terms found; an alias counts once."""
    matcher = Matcher.compile([watchlist("n", "us_steel OR tariff* OR Japan", min_terms=2)])
    assert names(matcher, "U.S. Steel and USS") == []
    assert names(matcher, "U.S. Steel tariffs") == ["n"]


def test_backtick_does_not_shift_the_snippet() -> None:
    """A backtick inside a word, in a story with curly quotes, leaves the snippet in place."""
    matcher = Matcher.compile([watchlist("s", "steel")])
    [match] = matcher.match(Document("", "tar`iff \u201cSteel\u201d"))
    assert [hit.snippet for hit in match.hits] == ["tar`iff \u201c**Steel**\u201d"]


def test_empty_set_matches_nothing() -> None:
    """A matcher with no watchlists matches no story."""
    assert Matcher.compile([]).match(Document("Steel", "")) == []


def test_explain_says_why_not() -> None:
    """`explain` names the terms found and not found, and the reason for a miss."""
    text = explain(watchlist("n", "us_steel AND tariff*"), Document("U.S. steel tariffs", ""))
    assert text.startswith("n: NOT MATCHED")
    assert "tariff* in title: U.S. steel **tariffs**" in text
    assert "terms not found: us_steel" in text


def test_explain_says_why_excluded() -> None:
    """`explain` shows the exclude terms that dropped a story."""
    text = explain(watchlist("n", "steel", exclude="podcast"), Document("Steel podcast", ""))
    assert "NOT MATCHED (the exclude query holds)" in text
    assert "podcast in title" in text


def test_shipped_watchlists_match_the_real_story_titles() -> None:
    """The example watchlists match real White House titles about the deal and tariffs."""
    matcher = Matcher.compile(load_watchlists(REPO / "watchlists", {}).watchlists)
    order = (
        "Order Regarding the Proposed Acquisition of United\u00a0States Steel Corporation"
        " by Nippon Steel\u00a0Corporation"
    )
    assert names(matcher, order) == ["nippon-steel", "us-steel"]
    tariffs = "Fact Sheet: President Donald J. Trump Restores Section 232 Tariffs"
    assert names(matcher, tariffs, "Tariffs on steel and aluminum imports.") == ["tariffs"]
    assert names(matcher, "U.S. steel tariffs", "") == ["tariffs"]
    japan = "Fact Sheet: U.S.\u2013Japan Strategic Trade and Investment Agreement"
    assert names(matcher, japan) == ["tariffs"]
    assert names(matcher, "Section 232 explained") == []


VOCAB = ["steel", "Steel", "U.S.", "tariff", "tarif*", "Japan", "company", "usa", "tax", "com"]
PIECES = st.sampled_from(
    [*VOCAB, "AND", "OR", "NOT", "NEAR/1", "(", ")", '"', "-", "=", "title:", "us_steel"]
)
TEXT = st.sampled_from(
    [
        *("steel", "steels", "Steely", "U.S.", "U.S. Steel", "u.s.a.", "TARIFFS", "Tariff"),
        *("companies", "Company's", "Nippon's", "Nippon-Steel", "Japan\u2019s", "the", "ab.c.d"),
        *("Japan", "x.usa", "United\u00a0States", "Steel\u2013Japan", "example.com"),
        *("end.U.S.A.", "x'Steel", "steel_tariff", "companies'", "taxes's", "USAs", "Taxes"),
    ]
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(PIECES, min_size=1, max_size=12).map(" ".join),
    st.lists(TEXT, max_size=12),
    st.lists(TEXT, max_size=12),
)
def test_gate_never_drops_a_match(query: str, title: list[str], summary: list[str]) -> None:
    """Matching through the candidate gate gives the same answer as evaluating every query."""
    try:
        item = compile_watchlist(watchlist("w", query))
    except QuerySyntaxError:
        return
    doc = Document(" ".join(title), " ".join(summary))
    expected = evaluate(item, DocIndex(doc)).matched
    assert bool(Matcher([item]).match(doc)) is expected


WORDY = st.text(
    alphabet=st.sampled_from([*"abcsyieUSAT .'-_\u2019\u00e9\u00df\u00a0\u0130", "\ufb01"]),
    max_size=40,
)


@settings(max_examples=1500, deadline=None)
@given(WORDY)
def test_gate_finds_the_key_of_every_word(text: str) -> None:
    """Every word of a story, as a query term, is found by the gate (it never misses one)."""
    found = words(fold(text))
    terms = [Term(w.lower, (w.stem,)) for w in found]
    terms += [Term(w.lower + "*", (w.lower,), prefix=True) for w in found]
    queries = [Query(term.text, term, ((term, ("title",)),)) for term in terms]
    gate = Gate(queries)
    candidates = gate.candidates(Document(text, ""))
    for number, query in enumerate(queries):
        assert number in candidates, query.text


@settings(max_examples=800, deadline=None)
@given(WORDY, WORDY)
def test_gate_text_reads_every_separator_as_a_space(title: str, summary: str) -> None:
    """The gate text is the folded, case-folded text with a space for each non-word character."""
    text = fold(f"{title}\n{summary}").casefold().replace("''", " ").replace("'", "")
    expected = " " + "".join(char if char.isalnum() else " " for char in text)
    assert gate_text(Document(title, summary)) == expected


@settings(max_examples=800, deadline=None)
@given(st.one_of(WORDY, st.text(max_size=40)))
def test_snippet_marks_the_word_it_is_for(text: str) -> None:
    """The snippet of each word of a field marks exactly that word of the original text."""
    field = DocIndex(Document(text, "")).fields["title"]
    folded, offsets = fold_with_offsets(text)
    for number, match in enumerate(WORD_RE.finditer(folded)):
        start, end = match.span()
        if offsets is not None:
            start, end = offsets[start], offsets[end - 1] + 1
        marked = " ".join(f"**{text[start:end]}**".split())
        assert marked in field.snippet((number, number + 1))
