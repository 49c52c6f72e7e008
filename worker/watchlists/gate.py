"""Which watchlists could match a document, found without splitting it into words.

Every query is reduced to *requirements*: a list of clauses, all of which must hold, where
a clause holds when at least one of its keys is in the document. A key is a word stem
(`steel`) or a prefix (`*tariff`). `A AND B` needs the clauses of both; a phrase needs each
of its words; `A OR B` needs one clause made of a clause of each side; `NOT` needs nothing.

A key is looked for by its *root*, the part every word with that stem contains (`compan`
for `company`, which covers `companies`), in the document folded and case-folded, with a
space first and in place of every character that is not a letter or digit (`gate_text`).
Each root is looked for with a space before it, so a hit starts a word; for a stem, what
follows must be a plural ending (`tariff` in `tariffs`, not in `tariffication`). An
initialism is also looked for as its letters apart (`u s a`, how `U.S.A.` reads there).
That finds every key of every word, and a few more. Keys too short or too common to look
for (stop words, roots under three letters) count as present.

One clause per watchlist, the one least likely to hold by chance (keys used by the fewest
terms of the set, longer words first), indexes the watchlist: one Aho-Corasick automaton
of the roots of all indexing keys runs over the document and gives the candidates (as
every root starts with a space, the automaton spends most characters in its start state,
which is cheap). Their other clauses are then checked with `str.find`. Only the
watchlists that pass are evaluated, on a document split into words only then. As the keys
found are a superset, the gate never drops a watchlist that could match.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import ahocorasick

from worker.models import Document
from worker.watchlists.query import And, AnyOf, InField, Near, Node, Or, Query, Term
from worker.watchlists.textfold import ASCII_SEPARATORS, fold

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


_SUFFIXES = frozenset({"", "s", "es", "ss", "ess"})
_Y_SUFFIXES = frozenset({"y", "ys", "ies", "yss", "iess"})
_ALNUM_RUN = re.compile(r"[^\W_]*")

# What the automaton reports for a root: (key, the word endings allowed after the root,
# or None when any ending is allowed: a prefix, or the dotted form of an initialism).
_Entry = tuple[str, frozenset[str] | None]


def _entries(key: str) -> list[tuple[str, _Entry]]:
    """The patterns that find `key` in the gate text: its root, and the letters of the root
    one by one (` u s a`, the dotted initialism) if all letters; each after a space."""
    root = _root(key)
    endings: frozenset[str] | None = None
    if not key.startswith("*"):
        endings = _Y_SUFFIXES if root != key else _SUFFIXES
    found: list[tuple[str, _Entry]] = [(_spaced(root), (key, endings))]
    if root.isalpha() and len(root) <= 12:
        found.append((_spaced(".".join(root)), (key, None)))
    return found


def gate_text(doc: Document) -> str:
    """The document as the gate reads it: folded, case-folded, single apostrophes removed,
    then with a space first and in place of every character that is not a letter or digit.

    Every word of the document, case-folded, starts after a space in this text (apostrophes
    inside words are joined, as the word splitter joins them), and is followed by at most a
    plural ending; an initialism such as `U.S.A.` appears as single letters (` u s a `).
    """
    return folded_gate_text(fold(doc.title), fold(doc.summary))


def folded_gate_text(title: str, summary: str) -> str:
    """`gate_text` of a document whose title and summary are already folded.

    Folding works character by character, so folding each field and joining them gives
    the same text as folding them joined; the matcher folds each field once for both the
    gate and the word index.
    """
    text = f"{title}\n{summary}"
    if text.isascii():
        if "'" in text:
            text = text.replace("''", " ").replace("'", "")
        return " " + text.encode("ascii").translate(_ASCII_GATE).decode("ascii")
    text = text.casefold()
    if "'" in text:
        text = text.replace("''", " ").replace("'", "")
    return _spaced(text)


class _SeparatorTable(dict[int, int]):
    """A `str.translate` table: a letter or digit stays, any other character is a space."""

    def __missing__(self, codepoint: int) -> int:
        value = codepoint if chr(codepoint).isalnum() else ord(" ")
        if len(self) < 65536:
            self[codepoint] = value
        return value


_SEPARATORS = _SeparatorTable()
# The same for ASCII text, case-folded as well, for `bytes.translate`.
_ASCII_GATE = ASCII_SEPARATORS.lower()


def _spaced(text: str) -> str:
    """`text` with a space first and in place of every character not a letter or digit."""
    return " " + text.translate(_SEPARATORS)


def _ending(text: str, end: int) -> str:
    """The letters and digits right after `end` (the last index of a hit)."""
    after = end + 1
    if after >= len(text) or not text[after].isalnum():
        return ""
    run = _ALNUM_RUN.match(text, after)
    return run.group() if run is not None else ""


def _has_key(text: str, entries: list[tuple[str, _Entry]]) -> bool:
    """Whether a key, by its `_entries`, starts a word of the gate text (with an allowed
    ending)."""
    for pattern, (_key, endings) in entries:
        last = len(pattern) - 1
        start = text.find(pattern)
        while start != -1:
            if endings is None or _ending(text, start + last) in endings:
                return True
            start = text.find(pattern, start + 1)
    return False


class Gate:
    """The table from keys to watchlists, and each watchlist's full requirements."""

    def __init__(self, queries: Sequence[Query]) -> None:
        self._needs: list[list[Clause]] = []
        self._table: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._entries: dict[str, list[tuple[str, _Entry]]] = {}
        patterns: dict[str, set[_Entry]] = {}
        weights = _Weights(queries)
        for number, query in enumerate(queries):
            found = requirements(query.root, weights)
            clauses = [clause for clause in found if all(map(_checkable, clause))]
            if not clauses:
                self._needs.append([])
                self._always.append(number)
                continue
            best = weights.best(clauses)
            self._needs.append([clause for clause in clauses if clause != best])
            for clause in clauses:
                for key in clause:
                    if key not in self._entries:
                        self._entries[key] = _entries(key)
            for key in best:
                self._table.setdefault(key, []).append(number)
                for pattern, entry in self._entries[key]:
                    patterns.setdefault(pattern, set()).add(entry)
        self._automaton: ahocorasick.Automaton | None = None
        if patterns:
            automaton = ahocorasick.Automaton()
            for pattern, entries in patterns.items():
                automaton.add_word(pattern, tuple(entries))
            automaton.make_automaton()
            self._automaton = automaton

    def _indexed_keys(self, text: str) -> set[str]:
        """The indexing keys that start a word of `text` with an allowed ending."""
        present: set[str] = set()
        if self._automaton is None:
            return present
        for end, entries in self._automaton.iter(text):
            ending: str | None = None
            for key, endings in entries:
                if key in present:
                    continue
                if endings is not None:
                    if ending is None:
                        ending = _ending(text, end)
                    if ending not in endings:
                        continue
                present.add(key)
        return present

    def candidates(self, doc: Document) -> list[int]:
        """The watchlists that `doc` may match (never one too few), in order."""
        if self._automaton is None and not self._always:
            return []
        return self.candidates_in(gate_text(doc))

    def candidates_in(self, text: str) -> list[int]:
        """`candidates` of the document whose `gate_text` is `text`."""
        if self._automaton is None and not self._always:
            return []
        numbers: set[int] = set(self._always)
        table = self._table
        for key in self._indexed_keys(text):
            numbers.update(table[key])
        if not numbers:
            return []
        known: dict[str, bool] = {}
        entries = self._entries

        def holds(clause: Clause) -> bool:
            for key in clause:
                found = known.get(key)
                if found is None:
                    found = known[key] = _has_key(text, entries[key])
                if found:
                    return True
            return False

        needs = self._needs
        return sorted(n for n in numbers if all(holds(clause) for clause in needs[n]))
