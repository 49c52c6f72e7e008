"""Match documents against a compiled set of watchlists.

How a document is matched:

1. Candidates: `Gate` (see `gate.py`) finds the watchlists whose required words may all
   be present, with one Aho-Corasick pass over the text and a few set checks per
   candidate; the others are never evaluated, and no watchlist that could match is left
   out.
2. Only then are the document's fields split into words, once (`DocIndex`). Each field
   is folded once, for both the gate and the word index.
3. For each candidate in order: feed scope (`feeds`, only when the document names its
   feed), language (`languages`, only when the document declares one), the query, then
   `exclude`, then `min_terms` (distinct positive terms found, an alias counting once).
4. A match carries one `Hit` per (term, field) found, with a snippet of the first place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from worker.models import Document, Hit, Match, Watchlist
from worker.watchlists.docindex import DocIndex, Span
from worker.watchlists.gate import Gate, folded_gate_text
from worker.watchlists.query import (
    FIELDS,
    And,
    AnyOf,
    InField,
    Near,
    Node,
    Not,
    Or,
    Query,
    Term,
    parse_query,
)
from worker.watchlists.textfold import fold


@dataclass(frozen=True, slots=True)
class Compiled:
    """One watchlist with its parsed query and exclusion."""

    watchlist: Watchlist
    query: Query
    exclude: Query | None
    feeds: frozenset[str]
    languages: frozenset[str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a watchlist matched a document, and why (for `explain`)."""

    matched: bool
    reason: str
    hits: tuple[Hit, ...] = ()
    excluded_by: tuple[Hit, ...] = ()


def compile_watchlist(watchlist: Watchlist) -> Compiled:
    """Parse a watchlist's query and exclusion; raise `QuerySyntaxError` if malformed."""
    aliases = dict(watchlist.aliases)
    exclude = parse_query(watchlist.exclude, aliases) if watchlist.exclude else None
    return Compiled(
        watchlist=watchlist,
        query=parse_query(watchlist.query, aliases),
        exclude=exclude,
        feeds=frozenset(watchlist.feeds),
        languages=frozenset(primary_language(lang) for lang in watchlist.languages),
    )


def primary_language(tag: str) -> str:
    """The primary subtag of a language tag, lower case (`en-US` -> `en`)."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


def spans(node: Node, index: DocIndex, field: str) -> list[Span]:
    """Where a positional node (term, alias, OR of those, NEAR) occurs in `field`."""
    if isinstance(node, Term):
        return index.spans(node, field)
    if isinstance(node, AnyOf):
        return [s for term in node.terms for s in index.spans(term, field)]
    if isinstance(node, Or):
        return [s for child in node.children for s in spans(child, index, field)]
    if isinstance(node, InField):
        return spans(node.child, index, field) if node.field == field else []
    if isinstance(node, Near):
        left = spans(node.left, index, field)
        if not left:
            return []
        right = spans(node.right, index, field)
        found = []
        for a in left:
            for b in right:
                gap = b[0] - a[1] if b[0] >= a[1] else a[0] - b[1]
                if 0 <= gap <= node.distance:
                    found.append((min(a[0], b[0]), max(a[1], b[1])))
        return found
    return []


def holds(node: Node, index: DocIndex, fields: tuple[str, ...] = FIELDS) -> bool:
    """Whether `node` is true of the document, looking in `fields`."""
    if isinstance(node, Term):
        return any(index.spans(node, field) for field in fields)
    if isinstance(node, AnyOf):
        return any(index.spans(term, field) for field in fields for term in node.terms)
    if isinstance(node, And):
        return all(holds(child, index, fields) for child in node.children)
    if isinstance(node, Or):
        return any(holds(child, index, fields) for child in node.children)
    if isinstance(node, Not):
        return not holds(node.child, index, fields)
    if isinstance(node, InField):
        return node.field in fields and holds(node.child, index, (node.field,))
    return any(spans(node, index, field) for field in fields)


def hits(query: Query, index: DocIndex) -> tuple[Hit, ...]:
    """One hit per positive term and field where it occurs, title first."""
    found: dict[tuple[str, str], Hit] = {}
    for field in FIELDS:
        for leaf, fields in query.leaves:
            key = (leaf.text, field)
            if field not in fields or key in found:
                continue
            where = spans(leaf, index, field)
            if where:
                snippet = index.fields[field].snippet(min(where))
                found[key] = Hit(term=leaf.text, field=field, snippet=snippet)
    return tuple(found.values())


def evaluate(compiled: Compiled, index: DocIndex, *, detail: bool = False) -> Verdict:
    """Decide one watchlist against one document; `detail` keeps the hits of a miss too."""
    doc, watchlist = index.doc, compiled.watchlist
    if compiled.feeds and doc.feed_url is not None and doc.feed_url not in compiled.feeds:
        return Verdict(False, f"feed {doc.feed_url} is not one of the watchlist's feeds")
    languages = compiled.languages
    if languages and doc.language and primary_language(doc.language) not in languages:
        return Verdict(False, f"language {doc.language} is not one of the watchlist's")
    if not holds(compiled.query.root, index):
        found = hits(compiled.query, index) if detail else ()
        return Verdict(False, "the query does not hold", found)
    found = hits(compiled.query, index)
    if compiled.exclude is not None and holds(compiled.exclude.root, index):
        excluded = hits(compiled.exclude, index)
        return Verdict(False, "the exclude query holds", found, excluded)
    distinct = len({hit.term for hit in found})
    if distinct < watchlist.min_terms:
        reason = f"{distinct} distinct term(s) found, min_terms is {watchlist.min_terms}"
        return Verdict(False, reason, found)
    return Verdict(True, "the query holds", found)


class Matcher:
    """A compiled set of watchlists; `match` answers which of them a document matches."""

    def __init__(self, compiled: Sequence[Compiled]) -> None:
        self._compiled = tuple(compiled)
        self._gate = Gate([item.query for item in self._compiled])

    @classmethod
    def compile(cls, watchlists: Sequence[Watchlist]) -> Matcher:
        """Compile every watchlist once; raise `QuerySyntaxError` only for a malformed query."""
        return cls([compile_watchlist(watchlist) for watchlist in watchlists])

    @property
    def watchlists(self) -> tuple[Watchlist, ...]:
        """The compiled watchlists, in order."""
        return tuple(item.watchlist for item in self._compiled)

    def match(self, doc: Document) -> list[Match]:
        """The watchlists that `doc` matches, in watchlist order, with their hits."""
        title, summary = fold(doc.title), fold(doc.summary)
        numbers = self._gate.candidates_in(folded_gate_text(title, summary))
        if not numbers:
            return []
        index = DocIndex(doc, (title, summary))
        out = []
        for number in numbers:
            compiled = self._compiled[number]
            verdict = evaluate(compiled, index)
            if verdict.matched:
                out.append(Match(watchlist=compiled.watchlist.name, hits=verdict.hits))
        return out

    def match_all(self, docs: Iterable[Document]) -> list[list[Match]]:
        """`match` for each document, in order."""
        return [self.match(doc) for doc in docs]
