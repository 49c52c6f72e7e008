"""The pure de-duplication verdict: new, duplicate (dropped) or related (clustered).

How duplicates are found, cheapest layer first (the store runs the look-ups, this module
only judges what they return):

1. **guid** - a stored story from the same feed has the entry's GUID;
2. **url** - a stored story or seed has the same canonical URL (`canonical.canonical_url`);
3. **hash** - a stored story or seed has the same content hash (`text.content_hash`);
4. **near** - an index (`index.ShingleIndex`) returns the stored documents that share
   shingles with the new one; `decide_near` scores each by the overlap coefficient
   (containment, ``|A∩B| / min(|A|, |B|)``), which stays high when a short feed summary
   sits inside a long seed article, and by Jaccard (``|A∩B| / |A∪B|``), reported alongside.

Two bands, leaning toward not merging (a wrongly dropped story is the costly error):

* **duplicate** when containment >= `DUPLICATE_THRESHOLD` *and* at least `MIN_SHARED`
  shingles are shared: the story is dropped (or folded into the other's cluster);
* **related** when containment >= `RELATED_THRESHOLD` and at least `MIN_SHARED_RELATED`
  shingles are shared: the same event told differently, clustered and never dropped;
* otherwise **new**.

The thresholds were chosen with `bench/dedup_eval.py`; `docs/dedup.md` has the figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DUPLICATE_THRESHOLD",
    "MIN_SHARED",
    "MIN_SHARED_RELATED",
    "NEW",
    "RELATED_THRESHOLD",
    "Candidate",
    "DedupDecision",
    "DocRef",
    "Thresholds",
    "decide_near",
    "exact_duplicate",
    "score",
]

DUPLICATE_THRESHOLD = 0.70
"""Containment at or above which a story is a duplicate of a stored document."""

RELATED_THRESHOLD = 0.30
"""Containment at or above which a story is the same event told differently."""

MIN_SHARED = 4
"""Shared (sampled) shingles a duplicate needs at least, so tiny overlaps never drop a story.

Shingles are sampled (`shingles.sample`, about one in two), so 4 stands for about 8 of all
the shingles of the text.
"""

MIN_SHARED_RELATED = 2
"""Shared (sampled) shingles a related story needs at least (about 4 of all)."""

DocKind = Literal["seed", "story"]
Kind = Literal["new", "duplicate", "related"]
Layer = Literal["guid", "url", "hash", "near"]


@dataclass(frozen=True, slots=True, order=True)
class DocRef:
    """A stored document: a seed article or a story, by its row id."""

    kind: DocKind
    id: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored document that shares `shared` shingles with the new one, of `size` in all."""

    ref: DocRef
    shared: int
    size: int


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The knobs of `decide_near`; the defaults are the evaluated ones."""

    duplicate_threshold: float = DUPLICATE_THRESHOLD
    related_threshold: float = RELATED_THRESHOLD
    min_shared: int = MIN_SHARED
    min_shared_related: int = MIN_SHARED_RELATED


@dataclass(frozen=True, slots=True)
class DedupDecision:
    """The verdict on one story, with the layer that decided and the scores behind it."""

    kind: Kind
    layer: Layer | None = None
    other: DocRef | None = None
    containment: float = 0.0
    jaccard: float = 0.0
    shared: int = 0

    @property
    def dropped(self) -> bool:
        """Whether the story must not appear in a digest on its own."""
        return self.kind == "duplicate"


NEW = DedupDecision(kind="new")
"""The verdict when no layer found anything."""

DEFAULT_THRESHOLDS = Thresholds()
"""The evaluated thresholds."""


def exact_duplicate(layer: Layer, other: DocRef) -> DedupDecision:
    """The verdict when the guid, url or hash layer found `other`."""
    return DedupDecision(kind="duplicate", layer=layer, other=other, containment=1.0, jaccard=1.0)


def score(size: int, candidate: Candidate) -> tuple[float, float]:
    """Containment (overlap coefficient) and Jaccard of a new set of `size` and a candidate."""
    shared = candidate.shared
    smaller = min(size, candidate.size)
    union = size + candidate.size - shared
    containment = shared / smaller if smaller > 0 else 0.0
    jaccard = shared / union if union > 0 else 0.0
    return min(containment, 1.0), min(jaccard, 1.0)


def _verdict(size: int, candidate: Candidate, limits: Thresholds) -> DedupDecision:
    """Judge one candidate."""
    containment, jaccard = score(size, candidate)
    kind: Kind = "new"
    if containment >= limits.duplicate_threshold and candidate.shared >= limits.min_shared:
        kind = "duplicate"
    elif containment >= limits.related_threshold and candidate.shared >= limits.min_shared_related:
        kind = "related"
    return DedupDecision(
        kind=kind,
        layer="near",
        other=candidate.ref,
        containment=containment,
        jaccard=jaccard,
        shared=candidate.shared,
    )


_RANK = {"duplicate": 2, "related": 1, "new": 0}


def decide_near(
    size: int, candidates: Iterable[Candidate], limits: Thresholds = DEFAULT_THRESHOLDS
) -> DedupDecision:
    """The near-duplicate verdict for a new document of `size` shingles.

    The strongest verdict wins (duplicate over related); among equals, the higher
    containment, then more shared shingles, then a seed over a story, then the older id.
    A new document with no shingles is always new.
    """
    if size <= 0:
        return NEW
    best: DedupDecision | None = None
    best_key: tuple[int, float, int, int, int] | None = None
    for candidate in candidates:
        verdict = _verdict(size, candidate, limits)
        if verdict.kind == "new":
            continue
        key = (
            _RANK[verdict.kind],
            verdict.containment,
            verdict.shared,
            candidate.ref.kind == "seed",
            -candidate.ref.id,
        )
        if best_key is None or key > best_key:
            best, best_key = verdict, key
    return best if best is not None else NEW
