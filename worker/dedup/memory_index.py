"""The shingle index port, and an in-memory adapter for evaluation and tests.

An index answers one question without a full scan: which stored documents share at
least `min_shared` shingles with this set, and how large is each. Postings (shingle ->
documents) make the cost grow with the postings of the new document's shingles, not
with the number of stored documents. Shingles found in more than `max_postings`
documents (boilerplate the stoplist missed) are skipped at query time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from worker.dedup.decide import MIN_SHARED_RELATED, Candidate, DocRef

__all__ = ["MAX_POSTINGS", "BatchIndex", "MemoryShingleIndex", "ShingleIndex"]

MAX_POSTINGS = 200
"""A shingle held by more documents than this is treated as boilerplate and skipped."""


class ShingleIndex(Protocol):
    """Where shingle sets are stored and looked up; datetimes are aware UTC.

    Adapters wrap their library's errors in `worker.errors.StoreError`.
    """

    def add(self, ref: DocRef, shingles: Iterable[int], seen_at: datetime | None = None) -> None:
        """Store the shingle set of `ref` (replacing any earlier one)."""

    def overlaps(
        self,
        shingles: Iterable[int],
        since: datetime | None = None,
        min_shared: int = MIN_SHARED_RELATED,
    ) -> list[Candidate]:
        """Stored documents sharing at least `min_shared` shingles with `shingles`.

        Stories seen before `since` are left out; seeds are always included.
        """
        ...


class MemoryShingleIndex:
    """A `ShingleIndex` in process memory."""

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._postings: defaultdict[int, list[DocRef]] = defaultdict(list)
        self._docs: dict[DocRef, frozenset[int]] = {}
        self._seen: dict[DocRef, datetime | None] = {}
        self._max_postings = max_postings

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, ref: DocRef, shingles: Iterable[int], seen_at: datetime | None = None) -> None:
        """Store the shingle set of `ref` (replacing any earlier one)."""
        if ref in self._docs:
            self.remove(ref)
        signature = frozenset(shingles)
        self._docs[ref] = signature
        self._seen[ref] = seen_at
        for shingle in signature:
            self._postings[shingle].append(ref)

    def remove(self, ref: DocRef) -> None:
        """Forget `ref` (a pruned story)."""
        signature = self._docs.pop(ref, frozenset())
        self._seen.pop(ref, None)
        for shingle in signature:
            postings = self._postings[shingle]
            postings.remove(ref)
            if not postings:
                del self._postings[shingle]

    def overlaps(
        self,
        shingles: Iterable[int],
        since: datetime | None = None,
        min_shared: int = MIN_SHARED_RELATED,
    ) -> list[Candidate]:
        """Stored documents sharing at least `min_shared` shingles with `shingles`."""
        counts: Counter[DocRef] = Counter()
        for shingle in set(shingles):
            postings = self._postings.get(shingle)
            if postings and len(postings) <= self._max_postings:
                counts.update(postings)
        found = []
        for ref, shared in counts.items():
            if shared < min_shared or not self._fresh(ref, since):
                continue
            found.append(Candidate(ref=ref, shared=shared, size=len(self._docs[ref])))
        found.sort(key=lambda c: (-c.shared, c.ref))
        return found

    def _fresh(self, ref: DocRef, since: datetime | None) -> bool:
        """Whether `ref` is a seed, or a story seen at or after `since`."""
        if since is None or ref.kind == "seed":
            return True
        seen = self._seen.get(ref)
        return seen is None or seen >= since


class BatchIndex:
    """The shingles of the earlier entries of one batch, numbered from 0 in order of `add`.

    What `MemoryShingleIndex` does for one feed body at a time, on plain ints: a feed's
    entries are checked against each other on every poll.
    """

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._first: dict[int, int] = {}  # shingle -> the first entry that has it
        self._more: dict[int, list[int]] = {}  # shingle -> later entries that have it
        self._sizes: dict[int, int] = {}
        self._max_postings = max_postings

    def add(self, number: int, shingles: frozenset[int]) -> None:
        """Index entry `number` of the batch (each number once)."""
        self._sizes[number] = len(shingles)
        first, more = self._first, self._more
        for shingle in shingles:  # a plain loop: no set is built per entry
            if first.setdefault(shingle, number) != number:
                more.setdefault(shingle, []).append(number)

    def overlaps(self, shingles: frozenset[int], min_shared: int) -> list[tuple[int, int, int]]:
        """`(number, shared, size)` of the entries sharing at least `min_shared` shingles."""
        counts: dict[int, int] = {}
        first, more = self._first, self._more
        for shingle in shingles & first.keys():
            holders = more.get(shingle)
            if holders is None:
                number = first[shingle]
                counts[number] = counts.get(number, 0) + 1
            elif len(holders) < self._max_postings:
                for number in (first[shingle], *holders):
                    counts[number] = counts.get(number, 0) + 1
        return [
            (number, shared, self._sizes[number])
            for number, shared in counts.items()
            if shared >= min_shared
        ]
