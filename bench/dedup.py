"""Time one near-duplicate check against 1,000 / 10,000 / 100,000 stored documents.

Stored documents are synthetic feed stories (a title and a 40-80 word summary drawn
from a Zipf-distributed vocabulary, so that common words repeat as they do in news).
For each corpus size the script prints, per checked story, the median and 95th
percentile time of the whole check (normalise, shingle, look up, decide) on the
in-memory index and on the SQL index in a SQLite file (optionally PostgreSQL with
``--pg URL``), and the memory the in-memory index takes per document.

Usage: ``python bench/dedup.py [--sizes 1000,10000,100000] [--pg URL] [--no-sql]``
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, text

from worker.dedup.decide import DedupDecision, DocRef
from worker.dedup.fingerprint import check_near, fingerprint
from worker.dedup.memory_index import MemoryShingleIndex, ShingleIndex
from worker.dedup.sql_index import SqlShingleIndex
from worker.store.db import create_db_engine, upgrade
from worker.store.tables import SeedDocument

NOW = datetime(2025, 3, 1, tzinfo=UTC)
QUERIES = 200


def vocabulary(size: int = 30_000) -> tuple[list[str], list[float]]:
    """Synthetic words with cumulative Zipf weights."""
    words = [f"w{i:05d}" for i in range(size)]
    return words, list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))


def documents(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """`n` synthetic (title, summary) stories."""
    words, cumulative = vocabulary()
    out = []
    for _ in range(n):
        text = rng.choices(words, cum_weights=cumulative, k=rng.randint(48, 90))
        out.append((" ".join(text[:8]), " ".join(text[8:])))
    return out


def timed(check: Callable[[], DedupDecision], runs: int) -> tuple[float, float]:
    """Median and 95th percentile of `runs` calls, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        check()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def load_sql(engine: Engine, docs: list[tuple[str, str]]) -> None:
    """Bulk-load the documents as seed rows and their shingles."""
    prints = [fingerprint(t, b) for t, b in docs]
    with engine.begin() as conn:
        conn.execute(
            insert(SeedDocument),
            [
                {
                    "id": i + 1,
                    "path": f"bench/{i}",
                    "title": "",
                    "text": "",
                    "content_hash": p.content_hash,
                    "file_hash": p.content_hash,
                    "shingle_count": p.size,
                    "imported_at": NOW,
                }
                for i, p in enumerate(prints)
            ],
        )
        rows = sorted((h, "seed", i + 1) for i, p in enumerate(prints) for h in p.shingles)
        if engine.dialect.name == "sqlite":  # the driver's executemany: minutes faster
            conn.exec_driver_sql("INSERT INTO shingles VALUES (?, ?, ?)", rows)
        else:  # PostgreSQL: COPY
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy("COPY shingles (hash, doc_kind, doc_id) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.exec_driver_sql("ANALYZE")  # fresh planner statistics, as autovacuum would give


def queries(docs: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """Half copies of stored stories (with a new title), half new stories."""
    copies = [("a new headline for it", body) for _, body in rng.sample(docs, QUERIES // 2)]
    return copies + documents(QUERIES // 2, rng)


def measure(index: ShingleIndex, qs: list[tuple[str, str]]) -> tuple[float, float, int]:
    """Median and p95 milliseconds per check, and how many checks found a duplicate."""
    stories = iter(qs)
    for _ in range(5):  # warm caches
        check_near(index, fingerprint(*qs[0]))
    dups = sum(check_near(index, fingerprint(t, b)).dropped for t, b in qs)
    median, p95 = timed(lambda: check_near(index, fingerprint(*next(stories))), len(qs))
    return median, p95, dups


@contextmanager
def database(admin_url: str, tmp: Path) -> Iterator[Engine]:
    """A SQLite file in `tmp`, or a PostgreSQL database made and dropped around the block."""
    if not admin_url:
        engine = create_db_engine(f"sqlite:///{tmp / 'bench.db'}")
        yield engine
        engine.dispose()
        return
    name = f"wirewatch_dedup_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--pg", default=None, help="a PostgreSQL admin URL: a database is made and dropped per size"
    )
    parser.add_argument("--no-sql", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(11)
    print(f"{'index':<10} {'docs':>7} {'median ms':>10} {'p95 ms':>8} {'dups':>5}  notes")
    for n in (int(s) for s in args.sizes.split(",")):
        docs = documents(n, rng)
        qs = queries(docs, rng)
        prints = [tuple(fingerprint(title, body).shingles) for title, body in docs]
        tracemalloc.start()
        index = MemoryShingleIndex()
        for i, signature in enumerate(prints):
            index.add(DocRef("seed", i + 1), signature)
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del prints
        median, p95, dups = measure(index, qs)
        note = f"{used / n:,.0f} bytes/doc in memory"
        print(f"{'memory':<10} {n:>7} {median:>10.3f} {p95:>8.3f} {dups:>5}  {note}")
        del index
        targets: list[tuple[str, str]] = []
        if not args.no_sql:
            targets.append(("sqlite", ""))
        if args.pg:
            targets.append(("postgresql", args.pg))
        for name, url in targets:
            with tempfile.TemporaryDirectory() as tmp, database(url, Path(tmp)) as engine:
                upgrade(engine)
                start = time.perf_counter()
                load_sql(engine, docs)
                loaded = time.perf_counter() - start
                median, p95, dups = measure(SqlShingleIndex(engine), qs)
                note = f"bulk load {loaded:.1f} s"
                print(f"{name:<10} {n:>7} {median:>10.3f} {p95:>8.3f} {dups:>5}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
