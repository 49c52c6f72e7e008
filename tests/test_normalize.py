"""HTML and loose strings from feeds become plain, single-spaced text."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker import normalize
from worker.normalize import collapse_whitespace, html_to_text, normalize_language


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("Fish &amp; chips &mdash; &#233;t&eacute;", "Fish & chips — été"),
        ("<script>alert('x')</script>Safe", "Safe"),
        ("<style>p { color: red }</style><p>Styled</p>", "Styled"),
        ("one<br>two<br/>three", "one two three"),
        ("<p>a</p><p>b</p>", "a b"),
        ("  lots\n\tof   space  ", "lots of space"),
        ("non&nbsp;breaking", "non breaking"),
        ("<img src=x alt=y>caption", "caption"),
        ("unclosed <b>bold", "unclosed bold"),
        ("", ""),
    ],
)
def test_html_becomes_plain_text(html: str, text: str) -> None:
    """Tags go, entities decode, scripts and styles vanish, whitespace collapses."""
    assert html_to_text(html) == text


def test_words_in_adjacent_blocks_stay_apart() -> None:
    """Words in neighbouring block elements are not glued together."""
    assert html_to_text("<li>alpha</li><li>beta</li>") == "alpha beta"


@given(st.text(max_size=300))
def test_html_to_text_never_fails_and_is_single_spaced(html: str) -> None:
    """Any string gives text without leading, trailing or doubled whitespace."""
    text = html_to_text(html)
    assert text == text.strip()
    assert "  " not in text and "\n" not in text


@given(st.text(alphabet=st.characters(blacklist_characters="<&"), max_size=200))
def test_text_without_markup_only_loses_extra_space(text: str) -> None:
    """Text with no tags or entities comes back with only its whitespace collapsed."""
    assert html_to_text(text) == collapse_whitespace(text)


@given(st.text(max_size=200))
def test_collapse_whitespace_is_idempotent(text: str) -> None:
    """Collapsing whitespace twice changes nothing more."""
    once = collapse_whitespace(text)
    assert collapse_whitespace(once) == once


@pytest.mark.parametrize(
    ("value", "tag"),
    [("en-US", "en-us"), ("en_GB", "en-gb"), (" fr ", "fr"), ("", None), (None, None)],
)
def test_language_tags_are_normalised(value: object, tag: str | None) -> None:
    """Language tags come back lower-case with hyphens, or None when empty."""
    assert normalize_language(value) == tag


def _parsed_fully(html: str) -> str:
    """What the full HTML parser makes of `html` (the path for any unusual markup)."""
    collector = normalize._TextCollector()
    collector.feed(html)
    collector.close()
    return collapse_whitespace("".join(collector.parts))


_NAMES = st.sampled_from(["p", "P", "b", "a", "br", "div", "h2", "span", "img", "script",
                          "STYLE", "title", "x1", "em"])  # fmt: skip
_VALUES = st.sampled_from(['"https://x.example/?a=1&amp;b=2"', "'it''s'", "plain", '"a>b"',
                           '"<b>"', "'x'", '""', "a=b"])  # fmt: skip
# html.parser ends a tag name only at an ASCII space: the others must not pass for one.
_SPACES = st.sampled_from([" ", " ", "\t", "\n", "\xa0", "\x0b", "\u2003", "\x85"])
_ATTRIBUTES = st.lists(
    st.tuples(
        _SPACES,
        st.sampled_from(["href", "class", "data-x", "alt", ":on", "_u"]),
        _VALUES | st.none(),
    )
).map(lambda parts: "".join(f"{s}{k}" if v is None else f"{s}{k}={v}" for s, k, v in parts))
_TAGS = st.builds(
    lambda close, name, attributes, space, end: f"<{close}{name}{attributes}{space}{end}>",
    st.sampled_from(["", "/"]),
    _NAMES,
    _ATTRIBUTES,
    st.just("") | _SPACES,
    st.sampled_from(["", "/"]),
)
_TEXT = st.sampled_from(["news", " ", "\n", "&amp;", "&lt;", "&#233;", "&eacute", "&", "<",
                         ">", "a < b", "<!-- c -->", "<!DOCTYPE html>", "<?x?>", "</>", "< p>",
                         "<![CDATA[z]]>", "é", "&nbsp;"]) | st.text(max_size=8)  # fmt: skip


@settings(max_examples=1500)
@example("<p>Fish &amp; chips</p>")
@example("<b>x</b><script>alert(1)</script>shown")
@example("<p>a</p><div>b</div>")
@example("a<br\xa0>b")
@given(st.lists(_TAGS | _TEXT, max_size=12).map("".join))
def test_plain_markup_reads_as_the_full_parser_reads_it(html: str) -> None:
    """The quick reading of text and plain tags gives what the full parser gives."""
    assert html_to_text(html) == _parsed_fully(html)
