"""Clusters: which stored story a new story is grouped with, from its dedup verdict.

A cluster is named by the id of its first story. A story that is a duplicate or a
related retelling of a stored *story* joins that story's cluster (a duplicate is folded
in and never listed on its own; a related story is listed within the cluster). A story
that matched a *seed*, or nothing, starts its own cluster: seeds are what the user has
already read and are never listed.
"""

from __future__ import annotations

from worker.dedup.decide import DedupDecision

__all__ = ["cluster_id"]


def cluster_id(decision: DedupDecision, own_id: int, other_cluster: int | None) -> int:
    """The cluster id of a new story with row id `own_id`.

    `other_cluster` is the `cluster_id` of the story `decision.other` names (None when it
    has none yet, in which case that story's own id names its cluster).
    """
    other = decision.other
    if decision.kind == "new" or other is None or other.kind != "story":
        return own_id
    return other_cluster if other_cluster is not None else other.id
