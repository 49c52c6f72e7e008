"""De-duplication: canonical URLs, text fingerprints, near-duplicates and clusters.

How duplicates are found, cheapest layer first: the same feed GUID, the same canonical
URL (`canonical_url`), the same normalised content hash (`fingerprint(...).content_hash`),
then near-duplicates by shingle containment (`check_near` over a `ShingleIndex`, judged by
`decide_near`). The thresholds and the evaluation behind them are in `decide` and in
`docs/dedup.md`. The SQL adapter (`worker.dedup.sql_index`) is imported on its own, so
that the pure core does not import SQLAlchemy.
"""

from worker.dedup.canonical import canonical_url
from worker.dedup.clusters import cluster_id
from worker.dedup.decide import (
    DEFAULT_THRESHOLDS,
    NEW,
    Candidate,
    DedupDecision,
    DocRef,
    Thresholds,
    decide_near,
    exact_duplicate,
)
from worker.dedup.fingerprint import Fingerprint, check_near, fingerprint
from worker.dedup.memory_index import MemoryShingleIndex, ShingleIndex
from worker.dedup.shingles import shingles
from worker.dedup.text import content_hash, dedup_text

__all__ = [
    "DEFAULT_THRESHOLDS",
    "NEW",
    "Candidate",
    "DedupDecision",
    "DocRef",
    "Fingerprint",
    "MemoryShingleIndex",
    "ShingleIndex",
    "Thresholds",
    "canonical_url",
    "check_near",
    "cluster_id",
    "content_hash",
    "decide_near",
    "dedup_text",
    "exact_duplicate",
    "fingerprint",
    "shingles",
]
