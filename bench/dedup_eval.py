"""Evaluate near-duplicate detection on labelled pairs; print precision, recall, F1, false drops.

Material (all stored with the repository or the shared corpora):

* the five seed articles (`seeds/`), twelve White House documents on the same topic
  (`/work/shared/corpora/whitehouse/articles/`), eight news stories written for this
  evaluation in four same-topic pairs that share quotes (`bench/data/news/`), and the
  entries of six real feeds (`/work/shared/corpora/real-feeds/`, title and summary);
* for each original, deterministic retellings of the same story: a new headline; the first
  paragraphs only; a feed summary (the first ~54 words, or two lead sentences); outlet
  boilerplate and bylines added; typography, punctuation and line breaks changed; and a
  wire republication (new headline, a third of the paragraphs cut, a few words edited,
  its own boilerplate).

Every original goes into an in-memory index. Each query (an original or a retelling) is
checked against the index: the pair (query, its source) is a positive, every other
(query, document) pair is a negative. The false-drop rate is the share of queries that
are dropped when their own source is left out of the index (a new story suppressed).

Usage: ``python bench/dedup_eval.py`` (defaults) or ``python bench/dedup_eval.py --sweep``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

import feedparser

from worker.dedup.decide import (
    DEFAULT_THRESHOLDS,
    Candidate,
    DocRef,
    Thresholds,
    decide_near,
    score,
)
from worker.dedup.memory_index import MemoryShingleIndex
from worker.dedup.shingles import SAMPLE_MODULUS, SHINGLE_SIZE, sample, shingles
from worker.dedup.text import content_hash, dedup_text

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
NEWS = ROOT / "bench" / "data" / "news"
REWRITES = ROOT / "bench" / "data" / "rewrites"
CORPORA = Path("/work/shared/corpora")
WHITEHOUSE = CORPORA / "whitehouse" / "articles"
FEEDS = CORPORA / "real-feeds"


def signature(text: str, k: int = SHINGLE_SIZE, modulus: int = SAMPLE_MODULUS) -> frozenset[int]:
    """The sampled shingles of normalised `text`, as the index stores them."""
    return sample(shingles(text, k), modulus)


@dataclass(frozen=True)
class Doc:
    """An original document of the evaluation set."""

    name: str
    group: str
    title: str
    body: str


@dataclass(frozen=True)
class Query:
    """A document checked against the index, and the original it retells."""

    source: int
    kind: str
    title: str
    body: str


# --- loading ---------------------------------------------------------------------------


def _split_title(text: str) -> tuple[str, str]:
    """Title from YAML front matter or the first line; the rest is the body."""
    front = re.match(r"\A\s*---\s*\n(.*?)\n---\s*\n", text, re.S)
    if front:
        found = re.search(r"^title:\s*(.+?)(?=^\w+:|\Z)", front.group(1), re.S | re.M)
        title = found.group(1) if found else ""
        title = re.sub(r"\\\s*\n\s*\\?", "", title).replace("\\_", " ").strip().strip("\"'")
        return title, text[front.end() :]
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest


def _strip_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def load_corpus() -> list[Doc]:
    """Seeds, White House documents, written news stories and real feed entries."""
    docs: list[Doc] = []
    for group, folder, pattern in (
        ("seed", SEEDS, "*.txt"),
        ("whitehouse", WHITEHOUSE, "*.md"),
        ("news", NEWS, "*.txt"),
    ):
        for path in sorted(folder.glob(pattern)):
            title, body = _split_title(path.read_text(encoding="utf-8"))
            docs.append(Doc(path.stem[-60:], group, title, body))
    for path in sorted(FEEDS.glob("*.xml")):
        parsed = feedparser.parse(str(path))
        for i, entry in enumerate(parsed.entries):
            summary = _strip_html(str(entry.get("summary", "")))
            title = str(entry.get("title", ""))
            if len((title + " " + summary).split()) >= 8:
                docs.append(Doc(f"{path.stem[-12:]}#{i}", "feed", title, summary))
    return docs


# --- retellings ------------------------------------------------------------------------

HEADLINES = (
    "What we know so far about {w}",
    "{W}: the latest",
    "Explainer: why {w} matters now",
    "{W} in focus as officials weigh next steps",
    "Analysis - {W} and what comes next",
)
EDITS = (
    (" said ", " told reporters "),
    (" on Tuesday", " Tuesday"),
    (" percent", "%"),
    (" United States ", " U.S. "),
    (" however,", " but"),
    (" will ", " would "),
    (" also ", " "),
    (" the ", " a "),
)
BOILER_HEAD = ("By Mia Sato and Daniel Okafor", "| By Staff Writer |", "From our correspondent")
BOILER_TAIL = (
    "Reporting by Mia Sato in Tokyo; Additional reporting by Dan Lee; Editing by Ros Russell",
    "Sign up for our Asia Morning Briefing newsletter here",
    "©2025 Example News Ltd. All rights reserved.",
    "Read more: Markets wrap: stocks edge higher as yen weakens",
    "Related: Five things to know before markets open",
)


def _paragraphs(body: str) -> list[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n|\n", body) if p.strip()]
    return paras or [body.strip()]


def _sentences(body: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(_paragraphs(body))) if s]


def _headline(doc: Doc, rng: random.Random) -> str:
    words = list(re.findall(r"[A-Za-z]{5,}", doc.body)) or ["news"]
    topic = " ".join(rng.sample(words, min(2, len(words))))
    template = rng.choice(HEADLINES)
    return template.format(w=topic, W=topic.capitalize())


def _typography(text: str, rng: random.Random) -> str:
    text = text.replace('"', "“").replace("'", "’").replace(" - ", " — ").replace("%", " percent")
    words = text.split(" ")
    out = []
    for word in words:
        out.append(word + ("\u00a0 " if rng.random() < 0.05 else " "))
        if rng.random() < 0.08:
            out.append("\n")
    return "".join(out)


def _edit(text: str, rng: random.Random) -> str:
    for old, new in EDITS:
        if old in text and rng.random() < 0.5:
            text = text.replace(old, new, 1)
    return text


def _boilerplate(body: str, rng: random.Random, dateline: bool = True) -> str:
    head = rng.choice(BOILER_HEAD)
    lead = "TOKYO, Jan 7 (Reuters) - " if dateline else ""
    tail = "\n".join(rng.sample(BOILER_TAIL, 3))
    return f"{head}\n{lead}{body.strip()}\n{tail}"


def retellings(doc: Doc, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(kind, title, body) retellings of the same story."""
    paras = _paragraphs(doc.body)
    words = " ".join(paras).split()
    yield "typography", doc.title.upper(), _typography(doc.body, rng)
    yield "boilerplate", doc.title, _boilerplate(doc.body, rng)
    if len(words) < 12:
        return  # a title-only entry: a new headline would leave nothing of it
    yield "headline", _headline(doc, rng), doc.body
    if doc.group == "feed":
        yield "summary_only", "", doc.body
        return
    share = rng.uniform(0.3, 0.5)
    lead, count = [], 0
    for para in paras:
        lead.append(para)
        count += len(para.split())
        if count >= share * len(words):
            break
    yield "lead", doc.title, "\n\n".join(lead)
    n = rng.randint(40, 70)
    yield "summary", doc.title, " ".join(words[:n]) + "…"
    sentences = _sentences(doc.body)[:6]
    picked = sorted(rng.sample(range(len(sentences)), min(2, len(sentences))))
    yield "summary_extract", _headline(doc, rng), " ".join(sentences[i] for i in picked)
    kept = [paras[0]] + [p for p in paras[1:] if rng.random() > 0.33]
    wire = "\n\n".join(_edit(p, rng) for p in kept)
    yield "wire", _headline(doc, rng), _boilerplate(wire, rng)


def build_queries(docs: list[Doc], seed: int = 7) -> list[Query]:
    """Every original, plus its retellings."""
    rng = random.Random(seed)
    queries: list[Query] = []
    for i, doc in enumerate(docs):
        queries.append(Query(i, "original", doc.title, doc.body))
        queries.extend(Query(i, kind, t, b) for kind, t, b in retellings(doc, rng))
    return queries


# --- scoring ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of one evaluation run."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    drops: int = 0
    queries: int = 0
    related_pos: int = 0
    related_neg: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def line(self) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rate = self.drops / self.queries if self.queries else 0.0
        return (
            f"precision={precision:.4f} recall={recall:.4f} F1={f1:.4f} "
            f"false_drop_rate={rate:.4%} ({self.drops}/{self.queries})"
        )


def evaluate(
    docs: list[Doc],
    queries: list[Query],
    k: int,
    limits: Thresholds,
    misses: list[str] | None = None,
    modulus: int = SAMPLE_MODULUS,
) -> Tally:
    """Index the originals with k-word shingles and judge every query against them."""
    texts = [dedup_text(d.title, d.body) for d in docs]
    sigs = [signature(t, k, modulus) for t in texts]
    by_hash = {content_hash(t): i for i, t in enumerate(texts)}
    index = MemoryShingleIndex()
    for i, sig in enumerate(sigs):
        index.add(DocRef("seed", i), sig)
    tally = Tally()
    least = max(1, min(limits.min_shared, limits.min_shared_related))
    for q in queries:
        text = dedup_text(q.title, q.body)
        sig = signature(text, k, modulus)
        same = by_hash.get(content_hash(text))
        candidates = index.overlaps(sig, min_shared=least)
        own = [c for c in candidates if c.ref.id == q.source]
        others = [c for c in candidates if c.ref.id != q.source]
        if q.kind != "original":
            verdict = decide_near(len(sig), own, limits)
            hit = verdict.kind == "duplicate" or same == q.source
            tally.by_kind.setdefault(q.kind, [0, 0])[0] += hit
            tally.by_kind[q.kind][1] += 1
            if hit:
                tally.tp += 1
            else:
                tally.fn += 1
                tally.related_pos += verdict.kind == "related"
                if misses is not None:
                    c, j = score(len(sig), own[0]) if own else (0.0, 0.0)
                    misses.append(f"miss {q.kind} of {docs[q.source].name}: c={c:.2f} j={j:.2f}")
        for cand in others:
            other_verdict = decide_near(len(sig), [cand], limits).kind
            tally.related_neg += other_verdict == "related"
            if other_verdict == "duplicate":
                tally.fp += 1
                if misses is not None:
                    c, j = score(len(sig), cand)
                    misses.append(
                        f"FALSE {q.kind} of {docs[q.source].name} ~ {docs[cand.ref.id].name}:"
                        f" c={c:.2f} j={j:.2f} shared={cand.shared}"
                    )
        tally.queries += 1
        dropped = decide_near(len(sig), others, limits).kind == "duplicate"
        tally.drops += dropped or (same is not None and same != q.source)
    return tally


def summary_facts(docs: list[Doc], queries: list[Query], k: int) -> str:
    """Mean Jaccard and containment of summary retellings against their article."""
    jac, con = [], []
    for q in queries:
        if q.kind != "summary":
            continue
        a = signature(dedup_text(q.title, q.body), k)
        d = docs[q.source]
        b = signature(dedup_text(d.title, d.body), k)
        shared = len(a & b)
        jac.append(shared / len(a | b))
        con.append(shared / min(len(a), len(b)))
    return (
        f"summaries vs their article (k={k}, n={len(jac)}): "
        f"mean Jaccard={mean(jac):.2f} mean containment={mean(con):.2f} "
        f"median containment={median(con):.2f}"
    )


def rewrites(docs: list[Doc], limits: Thresholds) -> list[str]:
    """Verdicts on independent rewrites of a news story (same event, other words)."""
    by_name = {d.name: d for d in docs if d.group == "news"}
    lines = []
    for path in sorted(REWRITES.glob("*.txt")):
        source = by_name[path.stem]
        a = signature(dedup_text(*_split_title(path.read_text(encoding="utf-8"))))
        b = signature(dedup_text(source.title, source.body))
        candidate = Candidate(DocRef("story", 1), len(a & b), len(b))
        containment, _ = score(len(a), candidate)
        verdict = decide_near(len(a), [candidate], limits)
        lines.append(
            f"rewrite of {path.stem}: containment={containment:.2f} "
            f"shared={candidate.shared} verdict={verdict.kind}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="try k and thresholds")
    parser.add_argument("--misses", action="store_true", help="list every error")
    args = parser.parse_args(argv)
    docs = load_corpus()
    queries = build_queries(docs)
    groups = {g: sum(d.group == g for d in docs) for g in ("seed", "whitehouse", "news", "feed")}
    positives = sum(q.kind != "original" for q in queries)
    print(f"originals={len(docs)} {groups} queries={len(queries)} positive pairs={positives}")
    print(summary_facts(docs, queries, SHINGLE_SIZE))
    if args.sweep:
        for k in (3, 4, 5):
            print(summary_facts(docs, queries, k))
            for modulus in (1, 2, 4):
                for dup in (0.5, 0.6, 0.7, 0.8):
                    for min_shared in (5, 8, 12):
                        # the minimum shared counts count sampled shingles
                        limits = Thresholds(
                            duplicate_threshold=dup,
                            min_shared=max(1, min_shared // modulus),
                            min_shared_related=max(1, 5 // modulus),
                        )
                        tally = evaluate(docs, queries, k, limits, modulus=modulus)
                        print(
                            f"k={k} sample=1/{modulus} dup={dup:.2f} "
                            f"min_shared={limits.min_shared:2d} {tally.line()}"
                        )
    misses: list[str] = []
    tally = evaluate(docs, queries, SHINGLE_SIZE, DEFAULT_THRESHOLDS, misses)
    d = DEFAULT_THRESHOLDS
    print(
        f"defaults k={SHINGLE_SIZE} sample=1/{SAMPLE_MODULUS} "
        f"duplicate_threshold={d.duplicate_threshold} related_threshold={d.related_threshold} "
        f"min_shared={d.min_shared}: {tally.line()}"
    )
    print(f"missed positives judged related (clustered, not dropped): {tally.related_pos}")
    print(f"different-story pairs judged related (clustered, not dropped): {tally.related_neg}")
    recall = ", ".join(f"{kind} {hit}/{n}" for kind, (hit, n) in sorted(tally.by_kind.items()))
    print(f"recall by retelling: {recall}")
    print("\n".join(rewrites(docs, DEFAULT_THRESHOLDS)))
    if args.misses:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
