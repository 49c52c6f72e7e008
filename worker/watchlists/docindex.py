"""The words of one document, indexed once so that every watchlist can look them up.

Each field (title, summary) is folded (see `textfold`) and split into words with one
regular expression; case-folding and stemming work on the whole list at once. What the
matcher needs only for the watchlists it evaluates (spans for snippets, the map back to
the original text) is computed on first use, so a story no watchlist wants costs little.
"""

from __future__ import annotations

import re

from worker.models import Document
from worker.watchlists.query import Term
from worker.watchlists.textfold import STEMS, WORD_RE, clean_word, fold, fold_with_offsets

SNIPPET_CHARS = 120
Span = tuple[int, int]  # word indexes: start inclusive, end exclusive


class FieldIndex:
    """The words of one field: cased forms, case-folded forms, stems and where they are."""

    __slots__ = ("_matches", "_offsets", "cased", "lowers", "stems", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        raws: list[str] = WORD_RE.findall(fold(text))
        joined = "\n".join(raws)
        if "." in joined or "'" in joined:
            raws = [clean_word(raw) for raw in raws]
            joined = "\n".join(raws)
        self.cased = raws
        self.lowers = joined.casefold().split("\n") if raws else []
        self.stems = list(map(STEMS.__getitem__, self.lowers))
        self._matches: list[re.Match[str]] | None = None
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

    def _char_range(self, span: Span) -> tuple[int, int]:
        if self._matches is None:
            folded, self._offsets = fold_with_offsets(self.text)
            self._matches = list(WORD_RE.finditer(folded))
        start = self._matches[span[0]].start()
        end = self._matches[span[1] - 1].end()
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

    __slots__ = ("_cache", "_stem_set", "doc", "fields")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.fields = {"title": FieldIndex(doc.title), "summary": FieldIndex(doc.summary)}
        self._cache: dict[tuple[int, str], list[Span]] = {}
        self._stem_set: set[str] | None = None

    @property
    def stem_set(self) -> set[str]:
        """Every stem of every field."""
        if self._stem_set is None:
            title, summary = self.fields["title"], self.fields["summary"]
            self._stem_set = set(title.stems).union(summary.stems)
        return self._stem_set

    def spans(self, term: Term, field: str) -> list[Span]:
        """Where `term` occurs in `field` (cached for this document by term identity)."""
        key = (id(term), field)
        found = self._cache.get(key)
        if found is None:
            fixed_first = len(term.stems) > 1 or not term.prefix
            if fixed_first and term.stems[0] not in self.stem_set:
                found = []
            else:
                found = self.fields[field].term_spans(term)
            self._cache[key] = found
        return found
