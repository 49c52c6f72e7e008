"""Which watchlists could match a document, found without splitting it into words.

Every query is reduced to *requirements*: a list of clauses, all of which must hold, where
a clause holds when at least one of its keys is in the document. A key is a word stem
(`steel`) or a prefix (`*tariff`). `A AND B` needs the clauses of both; a phrase needs each
of its words; `A OR B` needs one clause made of a clause of each side; `NOT` needs nothing.

A key is looked for by its *root*, the part every word with that stem contains (`compan`
for `company`, which covers `companies`). One Aho-Corasick automaton of all roots runs over
the document, folded and case-folded without dots and apostrophes (`gate_text`), and says
which keys may be present: a superset, as `steel` is also found inside `steely`. Keys too
short or too common to look for (stop words, roots under three letters) are taken as
present. One clause per watchlist, the one least likely to hold by chance (keys used by the
fewest terms of the set, longer words first), indexes the watchlist; the candidates found
through it are then checked against all their clauses with set operations. Only the
watchlists that pass are evaluated, on a document split into words only then. Because the
keys found are a superset, the gate never drops a watchlist that could match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import ahocorasick

from worker.models import Document
from worker.watchlists.query import And, AnyOf, InField, Near, Node, Or, Query, Term
from worker.watchlists.textfold import fold

Clause = frozenset[str]
MIN_ROOT = 3

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


def _root(key: str) -> str:
    """The part of a key that every word with that stem (or prefix) contains."""
    if key.startswith("*"):
        return key[1:]
    return key[:-1] if key.endswith("y") else key


def _checkable(key: str) -> bool:
    """Whether the gate looks for this key; other keys are taken as present."""
    return len(_root(key)) >= MIN_ROOT and key.lstrip("*") not in STOP_WORDS


def gate_text(doc: Document) -> str:
    """The document as the gate reads it: folded, case-folded, without dots and apostrophes.

    Every word of the document, case-folded, is a substring of this text (`U.S.` is `us`,
    `Nippon's` is `nippons`), and so is the root of its stem.
    """
    text = fold(f"{doc.title}\n{doc.summary}").casefold()
    return text.replace(".", "").replace("'", "")


class Gate:
    """The table from keys to watchlists, and each watchlist's full requirements."""

    def __init__(self, queries: Sequence[Query]) -> None:
        self._needs: list[list[Clause]] = []
        self._table: dict[str, list[int]] = {}
        self._always: list[int] = []
        roots: dict[str, set[str]] = {}
        weights = _Weights(queries)
        for number, query in enumerate(queries):
            found = requirements(query.root, weights)
            clauses = [clause for clause in found if all(map(_checkable, clause))]
            self._needs.append(clauses)
            if not clauses:
                self._always.append(number)
                continue
            for key in weights.best(clauses):
                self._table.setdefault(key, []).append(number)
            for clause in clauses:
                for key in clause:
                    roots.setdefault(_root(key), set()).add(key)
        self._keys = frozenset(self._table)
        self._automaton: ahocorasick.Automaton | None = None
        if roots:
            automaton = ahocorasick.Automaton()
            for root, keys in roots.items():
                automaton.add_word(root, tuple(keys))
            automaton.make_automaton()
            self._automaton = automaton

    def present(self, doc: Document) -> set[str]:
        """The keys whose root occurs in the document (a superset of its words' keys)."""
        present: set[str] = set()
        if self._automaton is not None:
            for _end, keys in self._automaton.iter(gate_text(doc)):
                present.update(keys)
        return present

    def candidates(self, present: set[str]) -> list[int]:
        """The watchlists whose every clause has a key in `present`, in order."""
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
