"""The query language: a table of tricky cases, parse errors, and property tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.errors import QuerySyntaxError
from worker.models import Document, Watchlist
from worker.watchlists import Matcher
from worker.watchlists.query import parse_query

ALIASES = (
    ("us_steel", ("=U.S. Steel", "=US Steel", "United States Steel", "=USS")),
    ("nsc", ("Nippon Steel", "日本製鉄")),
)

# (id, query, title, summary, matches?)
CASES = [
    # words, plurals and word boundaries
    ("word-same", "tariff", "New tariff announced", "", True),
    ("word-plural", "tariff", "New tariffs announced", "", True),
    ("word-capitalised", "tariff", "Tariff talks", "", True),
    ("word-upper", "tariff", "TARIFFS RISE", "", True),
    ("plural-query-finds-singular", "tariffs", "A tariff", "", True),
    ("plural-ies", "company", "Steel companies merge", "", True),
    ("plural-es", "tax", "New taxes on imports", "", True),
    ("no-substring", "steel", "A steely resolve", "", False),
    ("no-inner-substring", "steel", "Steelworkers strike", "", False),
    ("no-prefix-without-star", "tariff", "Tariffication debate", "", False),
    ("ss-not-stemmed", "bos", "The boss spoke", "", False),
    ("short-word-not-stemmed", "ga", "Gas prices", "", False),
    ("digits", "232", "Section 232 tariffs", "", True),
    ("summary-field-searched", "tariff", "Trade news", "tariffs rise", True),
    # phrases
    ("phrase", '"Nippon Steel"', "Nippon Steel to invest", "", True),
    ("phrase-order", '"Nippon Steel"', "Steel from Nippon", "", False),
    ("phrase-gap", '"Nippon Steel"', "Nippon and Steel", "", False),
    ("phrase-hyphen-in-text", '"Nippon Steel"', "Nippon-Steel merger", "", True),
    ("phrase-hyphen-in-query", '"Nippon-Steel"', "Nippon Steel merger", "", True),
    ("bare-hyphenated-word", "Nippon-Steel", "Nippon Steel merger", "", True),
    ("phrase-nbsp", '"United States Steel"', "United\u00a0States Steel Corp", "", True),
    ("phrase-en-dash", '"United States Japan"', "United States\u2013Japan deal", "", True),
    ("phrase-plural-last-word", '"steel tariff"', "New steel tariffs", "", True),
    ("phrase-across-fields-no", '"Nippon Steel"', "Nippon", "Steel", False),
    ("phrase-possessive", '"Nippon Steel"', "Nippon Steel's offer", "", True),
    ("phrase-curly-possessive", '"Nippon Steel"', "Nippon Steel\u2019s offer", "", True),
    ("phrase-in-curly-quotes", '"Nippon Steel"', "\u201cNippon Steel\u201d wins", "", True),
    # punctuation and Unicode
    ("dots-us", '"US Steel"', "U.S. Steel rises", "", True),
    ("dots-query", '"U.S. Steel"', "US Steel rises", "", True),
    ("dots-usa", "USA", "Made in the U.S.A.", "", True),
    ("diacritics-text", "societe", "Société Générale", "", True),
    ("diacritics-query", "société", "Societe Generale", "", True),
    ("fullwidth", "steel", "\uff33\uff54\uff45\uff45\uff4c prices", "", True),
    ("ligature", "file", "The \ufb01le was sent", "", True),
    ("soft-hyphen", "tariff", "Tar\u00adiff news", "", True),
    ("zero-width", "steel", "St\u200beel news", "", True),
    ("cjk", "日本製鉄", "日本製鉄 の 買収", "", True),
    ("apostrophe-join", "dont", "Don't panic", "", True),
    # boolean operators
    ("and-both", "steel AND tariff", "Steel tariff", "", True),
    ("and-one", "steel AND tariff", "Steel prices", "", False),
    ("implicit-and", "steel tariff", "Tariff on steel", "", True),
    ("implicit-and-missing", "steel tariff", "Steel prices", "", False),
    ("or-either", "aluminum OR steel", "Aluminum prices", "", True),
    ("or-none", "aluminum OR steel", "Copper prices", "", False),
    ("and-binds-tighter-than-or", "copper OR steel tariff", "Copper prices", "", True),
    ("and-binds-tighter-than-or-2", "copper OR steel tariff", "Steel prices", "", False),
    ("parentheses", "(copper OR steel) tariff", "Copper prices", "", False),
    ("parentheses-2", "(copper OR steel) tariff", "Copper tariff", "", True),
    ("not", "steel NOT sport", "Steel prices", "", True),
    ("not-excludes", "steel NOT sport", "Steel sport team", "", False),
    ("minus", "steel -sport", "Steel sport team", "", False),
    ("minus-phrase", 'steel -"Pittsburgh Steelers"', "Pittsburgh Steelers and steel", "", False),
    ("and-not", "steel AND NOT sport", "Steel in summary", "sport", False),
    ("lowercase-and-is-a-word", "steel and tariff", "Steel tariff", "", False),
    ("lowercase-or-is-a-word", "steel or tariff", "Steel", "", False),
    ("nested", "((steel OR iron) AND (tariff OR duty)) NOT sport", "Iron duty", "", True),
    # proximity
    ("near-close", "steel NEAR/3 tariff", "Steel import tariff", "", True),
    ("near-either-order", "tariff NEAR/3 steel", "Steel import tariff", "", True),
    ("near-too-far", "steel NEAR/1 tariff", "Steel and aluminum import tariff", "", False),
    ("near-zero-adjacent", "steel NEAR/0 tariff", "tariff steel", "", True),
    ("near-default", "steel NEAR tariff", "steel a b c d e tariff", "", True),
    ("near-default-far", "steel NEAR tariff", "steel a b c d e f tariff", "", False),
    ("near-other-field", "steel NEAR/3 tariff", "Steel news", "tariff", False),
    ("near-alias", "us_steel NEAR/3 deal", "Deal for U.S. Steel", "", True),
    ("near-or-group", "(Japan OR Tokyo) NEAR/2 trade", "Tokyo trade talks", "", True),
    ("near-chain", "a1 NEAR/1 b1 NEAR/1 c1", "a1 b1 c1", "", True),
    ("near-chain-broken", "a1 NEAR/1 b1 NEAR/1 c1", "a1 b1 x y z c1", "", False),
    # prefix wildcard
    ("prefix", "tariff*", "Tariffication debate", "", True),
    ("prefix-plural", "tariff*", "Tariffs rise", "", True),
    ("prefix-no-match", "tariff*", "Tarif rise", "", False),
    ("prefix-in-phrase", '"steel tarif*"', "Steel tariffs", "", True),
    # fields
    ("field-title", "title:steel", "Steel prices", "", True),
    ("field-title-not-summary", "title:steel", "Prices", "steel", False),
    ("field-summary", "summary:steel", "Prices", "steel", True),
    ("field-group", "title:(copper OR steel)", "Copper", "", True),
    ("field-phrase", 'title:"golden share"', "The golden share", "", True),
    # case sensitivity
    ("case-word", "=USS", "USS Enterprise", "", True),
    ("case-word-miss", "=USS", "Uss values", "", False),
    ("case-phrase", '="U.S. Steel"', "U.S. Steel rises", "", True),
    ("case-phrase-miss", '="U.S. Steel"', "U.S. steel tariffs", "", False),
    ("case-no-stemming", "=Steel", "Steels", "", False),
    ("case-prefix", "=Nipp*", "Nippon", "", True),
    # aliases
    ("alias-company", "us_steel", "U.S. Steel rises", "", True),
    ("alias-us", "us_steel", "US Steel rises", "", True),
    ("alias-full-name", "us_steel", "United States Steel Corp", "", True),
    ("alias-not-industry", "us_steel", "U.S. steel tariffs", "", False),
    ("alias-not-industry-2", "us_steel", "US steel output", "", False),
    ("alias-ticker", "us_steel", "USS shares", "", True),
    ("alias-and", "us_steel nsc", "Nippon Steel buys U.S. Steel", "", True),
    ("alias-unicode", "nsc", "日本製鉄", "", True),
]


def make(query: str, **extra: object) -> Matcher:
    fields: dict[str, object] = {"feeds": (), "schedule": "0 8 * * *", "timezone": "UTC"}
    fields.update(extra)
    return Matcher.compile(
        [Watchlist(name="w", query=query, webhooks=(), aliases=ALIASES, **fields)]  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("query", "title", "summary", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_case(query: str, title: str, summary: str, expected: bool) -> None:
    """The query matches the story exactly when the table says so."""
    assert bool(make(query).match(Document(title, summary))) is expected


def test_case_ids_are_unique() -> None:
    """Every case in the table has its own id."""
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) >= 60


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("", 0),
        ("   ", 3),
        ('"Nippon Steel', 0),
        ("(steel OR iron", 0),
        ("steel)", 5),
        ("steel AND", 9),
        ("steel OR", 8),
        ("AND steel", 0),
        ("NOT steel", 0),
        ("-steel", 0),
        ("steel NEAR/x iron", 6),
        ("steel NEAR/3 (iron AND coal)", 13),
        ("steel NEAR/3 NOT iron", 13),
        ('""', 0),
        ("!!!", 0),
        ("s*", 0),
        ("=", 0),
        ("= steel", 0),
        ("title:", 6),
        ("title:summary:x", 6),
        ("()", 1),
        ("steel us_stel", 6),
    ],
    ids=[
        "empty",
        "blank",
        "unclosed-quote",
        "unclosed-paren",
        "unmatched-paren",
        "dangling-and",
        "dangling-or",
        "leading-and",
        "only-negative",
        "only-minus",
        "near-without-number",
        "near-and-group",
        "near-not",
        "empty-phrase",
        "no-letters",
        "short-prefix",
        "lone-equals",
        "equals-then-space",
        "field-without-term",
        "field-in-field",
        "empty-parens",
        "unknown-alias",
    ],
)
def test_syntax_error_points_at_the_problem(query: str, position: int) -> None:
    """A malformed query raises QuerySyntaxError pointing at the offending character."""
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.position == position


def test_caret_draws_under_the_problem() -> None:
    """The caret line sits under the offending character."""
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("steel AND (tariff")
    assert caught.value.caret() == "steel AND (tariff\n          ^"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    """Very deep parentheses are refused with QuerySyntaxError."""
    with pytest.raises(QuerySyntaxError):
        parse_query("(" * 500 + "steel" + ")" * 500)


def test_alias_key_stands_for_its_phrases() -> None:
    """An alias key in a query counts as one term named by the key."""
    query = parse_query("us_steel tariff", dict(ALIASES))
    assert [leaf.text for leaf, _fields in query.leaves] == ["us_steel", "tariff"]


ALPHABET = st.sampled_from(
    [
        *'abc XYZ"()-=*:/\n\u00a0\u2019é.',
        *("AND", "OR", "NOT", "NEAR/", "NEAR/2", "title:", "summary:", "us_steel", "3"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=25).map("".join))
def test_parser_never_crashes_on_query_like_text(text: str) -> None:
    """Any text made of query pieces parses or raises QuerySyntaxError, nothing else."""
    try:
        query = parse_query(text, dict(ALIASES))
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        return
    make(text).match(Document(text, text))
    assert query.leaves


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    """Arbitrary Unicode parses or raises QuerySyntaxError, nothing else."""
    try:
        parse_query(text)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(text)


def test_documented_examples_parse() -> None:
    """Every query example in the documentation's operator table parses."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "watchlists.md").read_text("utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    examples = [part for row in rows for part in row.split("|")[1].split("`")[1::2]]
    assert len(examples) >= 12
    for example in examples:
        parse_query(example, dict(ALIASES))
