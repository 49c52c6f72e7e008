"""The words of one document, indexed once so that every watchlist can look them up.

Each field (title, summary) is folded (see `textfold`), unless the caller already folded
it for the gate, and split into words (`raw_words`); case-folding and stemming work on the
whole list at once. What the matcher needs only for the watchlists it evaluates (spans
for snippets, the map back to the original text) is computed on first use, so a story no
watchlist wants costs little.
"""

from __future__ import annotations

from worker.models import Document
from worker.watchlists.query import Term
from worker.watchlists.textfold import (
    STEMS,
    clean_word,
    fold,
    fold_offsets,
    is_plain,
    plain_words,
    raw_words,
    word_spans,
)

SNIPPET_CHARS = 120
Span = tuple[int, int]  # word indexes: start inclusive, end exclusive


class FieldIndex:
    """The words of one field: cased forms, case-folded forms, stems and where they are."""

    __slots__ = (
        "_bounds",
        "_cased_text",
        "_folded",
        "_lower_text",
        "_offsets",
        "_plain",
        "cased",
        "lowers",
        "stem_set",
        "stems",
        "text",
    )

    def __init__(self, text: str, folded: str | None = None) -> None:
        """Index `text`; `folded` is `fold(text)` when the caller has it already."""
        self.text = text
        if folded is None:
            folded = fold(text)
        self._folded = folded
        # Whether the words are the runs of letters and digits (see `_word_bounds`).
        self._plain = is_plain(folded)
        raws = plain_words(folded) if self._plain else raw_words(folded)
        joined = "\n".join(raws)
        if "." in joined or "'" in joined:
            raws = [clean_word(raw) for raw in raws]
            joined = "\n".join(raws)
        lowered = joined.casefold()
        self.cased = raws
        self.lowers = lowered.split("\n") if raws else []
        self.stems = list(map(STEMS.__getitem__, self.lowers))
        self.stem_set = set(self.stems)
        # Every word after a newline, so that "\n" + prefix finds a word with that prefix.
        self._cased_text = "\n" + joined
        self._lower_text = "\n" + lowered
        self._bounds: list[tuple[int, int]] | None = None
        self._offsets: list[int] | None = None

    def occurrences(self, word_stem: str) -> list[int]:
        """Where a stem occurs (word indexes), found by C-level list scans."""
        stems, found, index = self.stems, [], -1
        try:
            while True:
                index = stems.index(word_stem, index + 1)
                found.append(index)
        except ValueError:
            return found

    def may_contain(self, term: Term) -> bool:
        """False when `term` surely does not occur: its first stem, or its prefix, is absent.

        Cheap (a set lookup or one substring search), so it runs before `term_spans`.
        """
        if term.prefix and len(term.stems) == 1:
            if term.cased is not None:
                return "\n" + term.cased[0] in self._cased_text
            return "\n" + term.stems[0] in self._lower_text
        return term.stems[0] in self.stem_set

    def term_spans(self, term: Term) -> list[Span]:
        """Where `term` occurs, as word spans."""
        stems, cased, size = term.stems, term.cased, len(term.stems)
        if term.prefix and size == 1:
            if cased is not None:
                return [(i, i + 1) for i, w in enumerate(self.cased) if w.startswith(cased[0])]
            return [(i, i + 1) for i, w in enumerate(self.lowers) if w.startswith(stems[0])]
        spans = []
        last = size - 1
        for start in self.occurrences(stems[0]):
            if start + size > len(self.stems):
                break
            if all(self._word_is(term, start + k, k, k == last) for k in range(size)):
                spans.append((start, start + size))
        return spans

    def _word_is(self, term: Term, index: int, k: int, last: bool) -> bool:
        if term.prefix and last:
            if term.cased is not None:
                return self.cased[index].startswith(term.cased[k])
            return self.lowers[index].startswith(term.stems[k])
        if term.cased is not None:
            return self.cased[index] == term.cased[k]
        return self.stems[index] == term.stems[k]

    def _word_bounds(self, last: int) -> list[tuple[int, int]]:
        """Where the words are in the folded text (character ranges), at least up to the
        word `last`."""
        if self._bounds is None:
            self._offsets = fold_offsets(self.text)
            if not self._plain:
                self._bounds = [match.span() for match in word_spans(self._folded)]
                return self._bounds
            self._bounds = []
        bounds, folded = self._bounds, self._folded
        if self._plain and len(bounds) <= last:
            # The words are the runs of letters and digits, in order: each is the first
            # occurrence of itself after the one before (only separators stand between).
            end = bounds[-1][1] if bounds else 0
            for word in self.cased[len(bounds) : last + 1]:
                start = folded.find(word, end)
                end = start + len(word)
                bounds.append((start, end))
        return bounds

    def _char_range(self, span: Span) -> tuple[int, int]:
        bounds = self._word_bounds(span[1] - 1)
        start = bounds[span[0]][0]
        end = bounds[span[1] - 1][1]
        if self._offsets is None:
            return start, end
        return self._offsets[start], self._offsets[end - 1] + 1

    def snippet(self, span: Span) -> str:
        """About 120 characters of the original text around `span`, the words in `**`."""
        start, end = self._char_range(span)
        room = max(SNIPPET_CHARS - (end - start), 20) // 2
        left_edge, right_edge = max(0, start - room), min(len(self.text), end + room)
        left = self.text[left_edge:start]
        right = self.text[end:right_edge]
        if left_edge > 0:
            cut = left.find(" ")
            left = "…" + (left[cut + 1 :] if cut != -1 else left)
        if right_edge < len(self.text):
            cut = right.rfind(" ")
            right = (right[:cut] if cut > 0 else right) + "…"
        return " ".join(f"{left}**{self.text[start:end]}**{right}".split())


class DocIndex:
    """Every field of a document, with a cache of term lookups shared by all watchlists."""

    __slots__ = ("_cache", "doc", "fields")

    def __init__(self, doc: Document, folded: tuple[str, str] | None = None) -> None:
        """Index `doc`; `folded` is its folded title and summary when the caller has them."""
        self.doc = doc
        title, summary = (None, None) if folded is None else folded
        self.fields = {
            "title": FieldIndex(doc.title, title),
            "summary": FieldIndex(doc.summary, summary),
        }
        self._cache: dict[tuple[int, str], list[Span]] = {}

    def spans(self, term: Term, field: str) -> list[Span]:
        """Where `term` occurs in `field` (cached for this document by term identity)."""
        index = self.fields[field]
        # `index.may_contain(term)`, written out: most terms are absent, and this is the
        # hottest path of matching.
        stems = term.stems
        if term.prefix and len(stems) == 1:
            if not index.may_contain(term):
                return []
        elif stems[0] not in index.stem_set:
            return []
        key = (id(term), field)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = index.term_spans(term)
        return found
