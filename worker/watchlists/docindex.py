"""The words of one document, indexed once so that every watchlist can look them up.

Each field (title, summary) is folded (see `textfold`) and split into words; a
word is found by its stem through a dict, so a term costs a lookup, not a scan. Spans map
back to the original text for snippets.
"""

from __future__ import annotations

from worker.models import Document
from worker.watchlists.query import Term
from worker.watchlists.textfold import clean_word, fold_with_offsets, stem, word_spans

SNIPPET_CHARS = 120
Span = tuple[int, int]  # word indexes: start inclusive, end exclusive


class FieldIndex:
    """The words of one field: cased forms, case-folded forms, stems and where they are."""

    __slots__ = ("_offsets", "cased", "lowers", "matches", "positions", "stems", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        folded, self._offsets = fold_with_offsets(text)
        self.matches = word_spans(folded)
        cased = [clean_word(m.group()) for m in self.matches]
        lowers = [word.lower() for word in cased]
        stems = [stem(word) for word in lowers]
        positions: dict[str, list[int]] = {}
        for index, word_stem in enumerate(stems):
            positions.setdefault(word_stem, []).append(index)
        self.cased = cased
        self.lowers = lowers
        self.stems = stems
        self.positions = positions

    def term_spans(self, term: Term) -> list[Span]:
        """Where `term` occurs, as word spans."""
        stems, cased, size = term.stems, term.cased, len(term.stems)
        if term.prefix and size == 1:
            prefix = stems[0]
            if cased is not None:
                return [(i, i + 1) for i, w in enumerate(self.cased) if w.startswith(cased[0])]
            return [(i, i + 1) for i, w in enumerate(self.lowers) if w.startswith(prefix)]
        spans = []
        last = size - 1
        for start in self.positions.get(stems[0], ()):
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

    def _original(self, folded_index: int) -> int:
        return folded_index if self._offsets is None else self._offsets[folded_index]

    def snippet(self, span: Span) -> str:
        """About 120 characters of the original text around `span`, the words in `**`."""
        start = self._original(self.matches[span[0]].start())
        end = self._original(self.matches[span[1] - 1].end() - 1) + 1
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

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.fields = {"title": FieldIndex(doc.title), "summary": FieldIndex(doc.summary)}
        self._cache: dict[tuple[Term, str], list[Span]] = {}

    def spans(self, term: Term, field: str) -> list[Span]:
        """Where `term` occurs in `field` (cached for this document)."""
        key = (term, field)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self.fields[field].term_spans(term)
        return found
