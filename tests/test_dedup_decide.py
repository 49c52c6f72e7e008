"""Tests of the pure near-duplicate verdict."""

from __future__ import annotations

from worker.dedup.clusters import cluster_id
from worker.dedup.decide import (
    NEW,
    Candidate,
    DocRef,
    Thresholds,
    decide_near,
    exact_duplicate,
    score,
)

SEED = DocRef("seed", 1)
STORY = DocRef("story", 7)


def test_summary_inside_long_article_is_duplicate() -> None:
    """A 50-shingle summary wholly inside a 600-shingle seed is a duplicate."""
    verdict = decide_near(50, [Candidate(SEED, shared=48, size=600)])
    assert verdict.kind == "duplicate"
    assert verdict.layer == "near"
    assert verdict.other == SEED
    assert verdict.containment == 48 / 50
    assert verdict.jaccard < 0.1


def test_middle_band_is_related_not_dropped() -> None:
    """Half of the shingles shared makes a related story, which is never dropped."""
    verdict = decide_near(100, [Candidate(STORY, shared=50, size=120)])
    assert verdict.kind == "related"
    assert not verdict.dropped


def test_small_overlap_is_new() -> None:
    """Two long stories sharing a quote are not related."""
    assert decide_near(400, [Candidate(SEED, shared=20, size=500)]) == NEW


def test_tiny_overlap_never_drops() -> None:
    """A full containment of only a few shingles does not drop a story."""
    verdict = decide_near(3, [Candidate(SEED, shared=3, size=600)])
    assert not verdict.dropped


def test_duplicate_beats_related_and_seed_beats_story() -> None:
    """The strongest verdict wins, and a seed wins a tie with a story."""
    candidates = [
        Candidate(STORY, shared=40, size=100),
        Candidate(DocRef("story", 9), shared=90, size=100),
        Candidate(SEED, shared=90, size=100),
    ]
    verdict = decide_near(100, candidates)
    assert verdict.kind == "duplicate"
    assert verdict.other == SEED


def test_empty_signature_is_new() -> None:
    """A document without shingles is new whatever the candidates say."""
    assert decide_near(0, [Candidate(SEED, shared=5, size=5)]) == NEW


def test_thresholds_can_be_tightened() -> None:
    """A stricter duplicate threshold turns a duplicate into a related story."""
    candidate = Candidate(SEED, shared=80, size=100)
    assert decide_near(100, [candidate]).kind == "duplicate"
    strict = Thresholds(duplicate_threshold=0.9)
    assert decide_near(100, [candidate], strict).kind == "related"


def test_score_gives_containment_and_jaccard() -> None:
    """Containment divides by the smaller set, Jaccard by the union."""
    assert score(10, Candidate(SEED, shared=5, size=20)) == (0.5, 5 / 25)


def test_exact_layers_are_duplicates() -> None:
    """A GUID, URL or hash match is a duplicate naming its layer."""
    verdict = exact_duplicate("url", STORY)
    assert verdict.dropped
    assert verdict.layer == "url"
    assert verdict.other == STORY


def test_duplicate_of_a_story_joins_its_cluster() -> None:
    """A story folded into another joins that story's cluster."""
    verdict = decide_near(50, [Candidate(STORY, shared=50, size=60)])
    assert cluster_id(verdict, own_id=20, other_cluster=3) == 3
    assert cluster_id(verdict, own_id=20, other_cluster=None) == STORY.id


def test_story_matching_a_seed_starts_its_own_cluster() -> None:
    """A story related to a seed is not grouped under the seed."""
    verdict = decide_near(100, [Candidate(SEED, shared=50, size=100)])
    assert verdict.kind == "related"
    assert cluster_id(verdict, own_id=20, other_cluster=None) == 20


def test_new_story_starts_its_own_cluster() -> None:
    """A new story names its own cluster."""
    assert cluster_id(NEW, own_id=20, other_cluster=5) == 20
