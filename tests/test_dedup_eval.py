"""The labelled de-duplication evaluation meets its goals with the default thresholds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from worker.dedup.decide import DEFAULT_THRESHOLDS
from worker.dedup.shingles import SHINGLE_SIZE

BENCH = Path(__file__).resolve().parent.parent / "bench" / "dedup_eval.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dedup_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dedup_eval"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evaluation() -> ModuleType:
    """The evaluation script, skipped when the shared corpora are not on this machine."""
    module = _load()
    if not module.WHITEHOUSE.is_dir() or not module.FEEDS.is_dir():
        pytest.skip("the shared corpora are not available")
    return module


def test_defaults_meet_precision_recall_and_false_drop_goals(evaluation: ModuleType) -> None:
    """Precision >= 0.99, recall >= 0.95 and at most 0.5% of new stories wrongly dropped."""
    docs = evaluation.load_corpus()
    tally = evaluation.evaluate(
        docs, evaluation.build_queries(docs), SHINGLE_SIZE, DEFAULT_THRESHOLDS
    )
    assert tally.tp / (tally.tp + tally.fp) >= 0.99
    assert tally.tp / (tally.tp + tally.fn) >= 0.95
    assert tally.drops / tally.queries <= 0.005


def test_no_seed_is_dropped_against_the_others(evaluation: ModuleType) -> None:
    """No seed, White House document or same-topic news story duplicates another original."""
    docs = [d for d in evaluation.load_corpus() if d.group != "feed"]
    originals = [q for q in evaluation.build_queries(docs) if q.kind == "original"]
    tally = evaluation.evaluate(docs, originals, SHINGLE_SIZE, DEFAULT_THRESHOLDS)
    assert tally.drops == 0
