"""Shingle rows waiting for their transaction to commit, and looked up meanwhile.

A story's shingle rows land at random places in the index, so writing them feed by feed
touches a page of the index for nearly every row. Kept here until the transaction
commits, the rows of a whole group of feeds are written at once, in the order of the
index (`sql_index.insert_new_shingles`), and many of them share a page.

Until then the later feeds of the group must still find them: `holding` and `seen` are
what `sql_index.find_overlaps_many` adds to what it reads from the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from worker.dedup.decide import DocRef

__all__ = ["PendingShingles"]


@dataclass(slots=True)
class PendingShingles:
    """The shingle sets of documents stored in an open transaction, not yet in the index."""

    docs: list[tuple[DocRef, frozenset[int]]] = field(default_factory=list)
    """Each document and its shingles, in the order they were added."""
    seen: dict[DocRef, tuple[int, datetime]] = field(default_factory=dict)
    """Document -> its shingle count and the time it was first seen."""
    _first: dict[int, int] = field(default_factory=dict)
    """Hash -> the position in `docs` of the first document that holds it."""
    _more: dict[int, list[int]] = field(default_factory=dict)
    """Hash -> the positions of the others, for the few hashes that several hold.

    Positions rather than a list of documents per hash: tens of thousands of small lists
    would each be one more object for the garbage collector to walk.
    """

    def add(self, ref: DocRef, shingles: Iterable[int], seen_at: datetime) -> None:
        """Keep the shingles of `ref`, a document the index has no rows for yet."""
        if ref in self.seen:
            raise ValueError(f"{ref.kind} {ref.id} is pending already")
        signature = frozenset(shingles)
        position = len(self.docs)
        self.docs.append((ref, signature))
        self.seen[ref] = (len(signature), seen_at)
        first = self._first
        for hash_ in signature:
            if first.setdefault(hash_, position) != position:
                self._more.setdefault(hash_, []).append(position)

    def holding(self, hashes: Iterable[int]) -> dict[int, list[DocRef]]:
        """Each of `hashes` that pending documents hold -> those documents, in the order
        they were added."""
        first, more, docs = self._first, self._more, self.docs
        found: dict[int, list[DocRef]] = {}
        for hash_ in hashes:
            position = first.get(hash_)
            if position is not None:
                found[hash_] = [docs[position][0], *(docs[p][0] for p in more.get(hash_, ()))]
        return found

    def __bool__(self) -> bool:
        return bool(self.docs)
