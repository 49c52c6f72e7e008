"""Which watchlists could match a document, found without evaluating their queries.

Every query is reduced to *requirements*: a list of clauses, all of which must hold, where
a clause holds when at least one of its keys is in the document. A key is a word stem
(`steel`) or a prefix (`*tariff`). `A AND B` needs the clauses of both; a phrase needs each
of its words; `A OR B` needs one clause made of a clause of each side; `NOT` needs nothing.
Because a query must contain a positive term, it always has at least one clause.

One clause per watchlist, the one most likely to be rare (its keys used by the fewest
terms of the whole set, longer words first, stop words last), goes in a table from key to
watchlists. A document looks up its stems in that table (and its words in one
Aho-Corasick automaton of the prefixes), then checks the other clauses of each candidate
against its set of stems: a few set lookups. Only the watchlists that pass are evaluated.
The gate never drops a watchlist that could match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import ahocorasick

from worker.watchlists.docindex import DocIndex
from worker.watchlists.query import And, AnyOf, InField, Near, Node, Or, Query, Term

Clause = frozenset[str]

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "new",
        "said",
        "us",
    ]
)


def _term_keys(term: Term) -> list[str]:
    keys = list(term.stems)
    if term.prefix:
        keys[-1] = "*" + keys[-1]
    return keys


class _Weights:
    """How common a key is: how many terms of the whole set use it (stop words: never rare)."""

    def __init__(self, queries: Sequence[Query]) -> None:
        self.uses: Counter[str] = Counter()
        for query in queries:
            for node in _all_terms(query.root):
                self.uses.update(set(_term_keys(node)))

    def key(self, key: str) -> tuple[int, int]:
        """Lower is rarer: stop words last, then keys used by fewer terms, then longer."""
        word = key.lstrip("*")
        return (1 if word in STOP_WORDS else 0, self.uses[key] * 8 - len(word))

    def clause(self, clause: Clause) -> tuple[int, int]:
        """Lower is rarer: a clause is as common as the sum of its keys."""
        weights = [self.key(key) for key in clause]
        return max(w[0] for w in weights), sum(w[1] for w in weights)

    def best(self, clauses: list[Clause]) -> Clause:
        """The clause least likely to hold by chance."""
        return min(clauses, key=self.clause)


def _all_terms(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, AnyOf):
        return list(node.terms)
    if isinstance(node, And | Or):
        return [term for child in node.children for term in _all_terms(child)]
    if isinstance(node, Near):
        return _all_terms(node.left) + _all_terms(node.right)
    return _all_terms(node.child)


def requirements(node: Node, weights: _Weights) -> list[Clause]:
    """The clauses that a document must satisfy for `node` to hold (see the docstring)."""
    if isinstance(node, Term):
        return [frozenset({key}) for key in _term_keys(node)]
    if isinstance(node, AnyOf):
        return [frozenset(min(_term_keys(term), key=weights.key) for term in node.terms)]
    if isinstance(node, And):
        return [clause for child in node.children for clause in requirements(child, weights)]
    if isinstance(node, Or):
        parts = [requirements(child, weights) for child in node.children]
        if any(not part for part in parts):
            return []
        return [frozenset().union(*(weights.best(part) for part in parts))]
    if isinstance(node, Near):
        return requirements(node.left, weights) + requirements(node.right, weights)
    if isinstance(node, InField):
        return requirements(node.child, weights)
    return []


class Gate:
    """The table from keys to watchlists, and each watchlist's full requirements."""

    def __init__(self, queries: Sequence[Query]) -> None:
        self._needs: list[list[Clause]] = []
        self._table: dict[str, list[int]] = {}
        self._always: list[int] = []
        prefixes: set[str] = set()
        weights = _Weights(queries)
        for number, query in enumerate(queries):
            clauses = requirements(query.root, weights)
            self._needs.append(clauses)
            if not clauses:
                self._always.append(number)
                continue
            for key in weights.best(clauses):
                self._table.setdefault(key, []).append(number)
            prefixes.update(k[1:] for clause in clauses for k in clause if k.startswith("*"))
        self._keys = frozenset(self._table)
        self._automaton: ahocorasick.Automaton | None = None
        if prefixes:
            automaton = ahocorasick.Automaton()
            for prefix in prefixes:
                automaton.add_word(" " + prefix, "*" + prefix)
            automaton.make_automaton()
            self._automaton = automaton

    def candidates(self, index: DocIndex) -> list[int]:
        """The watchlists whose every clause the document satisfies, in order."""
        present: set[str] = index.stem_set
        if self._automaton is not None:
            found = {key for _end, key in self._automaton.iter(index.lowers_text())}
            if found:
                present = present | found
        table = self._table
        numbers: set[int] = set(self._always)
        for key in self._keys.intersection(present):
            numbers.update(table[key])
        needs = self._needs
        return sorted(
            number
            for number in numbers
            if all(not clause.isdisjoint(present) for clause in needs[number])
        )
