"""One call from a story's text to everything de-duplication compares, and the near check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from worker.dedup.decide import DEFAULT_THRESHOLDS, DedupDecision, Thresholds, decide_near
from worker.dedup.memory_index import ShingleIndex
from worker.dedup.shingles import sample, shingles
from worker.dedup.text import content_hash, dedup_text

__all__ = ["Fingerprint", "check_near", "fingerprint"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The normalised text of a document, its content hash and its (sampled) shingle set."""

    text: str
    content_hash: str
    shingles: frozenset[int]

    def __reduce__(self) -> tuple[type[Fingerprint], tuple[str, str, frozenset[int]]]:
        """Pickle as the arguments of the constructor (see `Entry.__reduce__`)."""
        return (type(self), (self.text, self.content_hash, self.shingles))

    @property
    def size(self) -> int:
        """The number of shingles (store it as the document's `shingle_count`)."""
        return len(self.shingles)


def fingerprint(title: str, body: str) -> Fingerprint:
    """Normalise `title` and `body` and compute the content hash and the sampled shingles."""
    text = dedup_text(title, body)
    return Fingerprint(text=text, content_hash=content_hash(text), shingles=sample(shingles(text)))


def check_near(
    index: ShingleIndex,
    print_: Fingerprint,
    since: datetime | None = None,
    limits: Thresholds = DEFAULT_THRESHOLDS,
) -> DedupDecision:
    """The near-duplicate verdict for `print_` against the documents stored in `index`."""
    least = min(limits.min_shared, limits.min_shared_related)
    candidates = index.overlaps(print_.shingles, since=since, min_shared=max(least, 1))
    return decide_near(print_.size, candidates, limits)
