"""Contract tests of the shingle index: in memory, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, Insert, create_engine, insert, select, text

from worker.dedup.decide import DedupDecision, DocRef
from worker.dedup.fingerprint import check_near, fingerprint
from worker.dedup.memory_index import BatchIndex, MemoryShingleIndex, ShingleIndex
from worker.dedup.pending import PendingShingles
from worker.dedup.sql_index import (
    SqlShingleIndex,
    add_shingles,
    check_near_in,
    find_overlaps,
    find_overlaps_many,
    insert_new_shingles,
)
from worker.errors import StoreError
from worker.store.db import create_db_engine, upgrade
from worker.store.tables import Feed, SeedDocument, Story

REPO = Path(__file__).resolve().parent.parent
SEEDS = sorted((REPO / "seeds").glob("*.txt"))
NEWS = REPO / "bench" / "data" / "news"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PG_ADMIN = os.environ.get(
    "WIREWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _read(path: Path) -> tuple[str, str]:
    """A stored article as (title, body): the first line is the title."""
    title, _, body = path.read_text(encoding="utf-8").strip().partition("\n")
    return title, body


def _insert(conn: Connection, statement: Insert) -> int:
    """Run an insert and return the new row's id."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass
class Corpus:
    """Stores seeds and stories in an index (and their rows, for SQL) and checks new ones."""

    index: ShingleIndex
    engine: Engine | None = None
    next_id: dict[str, int] = field(default_factory=lambda: {"seed": 0, "story": 0})

    def _row(self, kind: str, title: str, body: str, seen: datetime, size: int) -> int:
        if self.engine is None:
            self.next_id[kind] += 1
            return self.next_id[kind]
        print_ = fingerprint(title, body)
        with self.engine.begin() as conn:
            if kind == "seed":
                values = {
                    "path": f"seeds/{uuid.uuid4().hex}.txt",
                    "title": title,
                    "text": body,
                    "content_hash": print_.content_hash,
                    "file_hash": print_.content_hash,
                    "shingle_count": size,
                    "imported_at": seen,
                }
                return _insert(conn, insert(SeedDocument).values(values))
            feed_id = conn.execute(select(Feed.id).where(Feed.url == "https://x.test/f")).scalar()
            if feed_id is None:
                feed_id = _insert(conn, insert(Feed).values(url="https://x.test/f"))
            values = {
                "feed_id": feed_id,
                "guid": uuid.uuid4().hex,
                "title": title,
                "summary": body,
                "published_at": seen,
                "first_seen_at": seen,
                "content_hash": print_.content_hash,
                "shingle_count": 0,
            }
            return _insert(conn, insert(Story).values(values))

    def add(self, kind: str, title: str, body: str, seen: datetime = NOW) -> DocRef:
        """Store one document and its shingles."""
        print_ = fingerprint(title, body)
        row_id = self._row(kind, title, body, seen, print_.size)
        ref = DocRef("seed", row_id) if kind == "seed" else DocRef("story", row_id)
        self.index.add(ref, print_.shingles, seen_at=seen)
        return ref

    def check(self, title: str, body: str, since: datetime | None = None) -> DedupDecision:
        """The near-duplicate verdict on a new document."""
        return check_near(self.index, fingerprint(title, body), since=since)


def _pg_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"wirewatch_dedup_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _engines(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database: a SQLite file, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        sqlite = create_db_engine(f"sqlite:///{tmp_path / 'dedup.db'}")
        upgrade(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    for pg in _pg_engine():
        upgrade(pg)
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on SQLite and on PostgreSQL."""
    yield from _engines(request.param, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def corpus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Corpus]:
    """An empty corpus over the in-memory index and the SQL index on SQLite and PostgreSQL."""
    if request.param == "memory":
        yield Corpus(MemoryShingleIndex())
        return
    for db in _engines(request.param, tmp_path):
        yield Corpus(SqlShingleIndex(db), db)


def test_summary_of_a_seed_is_a_duplicate(corpus: Corpus) -> None:
    """A feed summary taken from a seed article is dropped as its duplicate."""
    seed = corpus.add("seed", *_read(SEEDS[1]))
    _, body = _read(SEEDS[1])
    summary = " ".join(body.split()[:54]) + "..."
    verdict = corpus.check("Blinken's farewell visit to Tokyo", summary)
    assert verdict.kind == "duplicate"
    assert verdict.other == seed


def test_seeds_are_not_duplicates_of_each_other(corpus: Corpus) -> None:
    """Each seed is new against all the seeds stored before it."""
    for path in SEEDS:
        assert corpus.check(*_read(path)).kind != "duplicate", path.name
        corpus.add("seed", *_read(path))


def test_same_topic_story_is_not_dropped(corpus: Corpus) -> None:
    """A different story on the same topic that shares quotes is never dropped."""
    corpus.add("story", *_read(NEWS / "boj_hike_january.txt"))
    assert not corpus.check(*_read(NEWS / "boj_hold_march.txt")).dropped


def test_old_stories_are_left_out_but_seeds_never(corpus: Corpus) -> None:
    """A story seen before `since` no longer drops a copy; a seed always does."""
    title, body = _read(NEWS / "quake_noto.txt")
    corpus.add("story", title, body, seen=NOW - timedelta(days=30))
    assert corpus.check(title, body, since=NOW - timedelta(days=7)).kind == "new"
    assert corpus.check(title, body).kind == "duplicate"
    seed = corpus.add("seed", title, body, seen=NOW - timedelta(days=300))
    assert corpus.check(title, body, since=NOW - timedelta(days=7)).other == seed


def test_wire_republication_is_a_duplicate(corpus: Corpus) -> None:
    """The same story with a new headline, trimmed paragraphs and boilerplate is dropped."""
    title, body = _read(NEWS / "nippon_ceo.txt")
    story = corpus.add("story", title, body)
    paragraphs = [p for p in body.split("\n") if p.strip()]
    wire = "By Ken Ito\nTOKYO (Reuters) - " + "\n\n".join(paragraphs[:2] + paragraphs[3:6])
    wire += "\nReporting by Ken Ito; Editing by Ros Russell"
    verdict = corpus.check("Nippon Steel boss says will sue over blocked deal", wire)
    assert verdict.kind == "duplicate"
    assert verdict.other == story


def test_sql_index_survives_a_restart(engine: Engine) -> None:
    """Signatures stored before a restart are found by a new engine without recomputing."""
    url = engine.url
    corpus = Corpus(SqlShingleIndex(engine), engine)
    seed = corpus.add("seed", *_read(SEEDS[3]))
    engine.dispose()
    reopened = create_db_engine(url.render_as_string(hide_password=False))
    try:
        _, body = _read(SEEDS[3])
        lead = "\n".join(body.split("\n")[:6])
        verdict = check_near(SqlShingleIndex(reopened), fingerprint("Trump and Ishiba", lead))
        assert verdict.kind == "duplicate"
        assert verdict.other == seed
    finally:
        reopened.dispose()


def test_sql_index_sets_the_shingle_count(engine: Engine) -> None:
    """Storing a story's shingles records their number on the story row."""
    corpus = Corpus(SqlShingleIndex(engine), engine)
    title, body = _read(NEWS / "tariffs_autos.txt")
    ref = corpus.add("story", title, body)
    with engine.connect() as conn:
        count = conn.execute(select(Story.shingle_count).where(Story.id == ref.id)).scalar()
    assert count == fingerprint(title, body).size


def test_sql_index_skips_boilerplate_held_by_many(engine: Engine) -> None:
    """A shingle shared by more documents than the cap no longer makes a match."""
    index = SqlShingleIndex(engine, max_postings=2)
    corpus = Corpus(index, engine)
    title, body = _read(NEWS / "quake_taiwan.txt")
    for _ in range(3):
        corpus.add("story", title, body)
    assert corpus.check(title, body).kind == "new"


def test_sql_index_replaces_a_signature(engine: Engine) -> None:
    """Adding a document again replaces its shingles instead of adding to them."""
    corpus = Corpus(SqlShingleIndex(engine), engine)
    ref = corpus.add("story", *_read(NEWS / "boj_hold_march.txt"))
    other = fingerprint(*_read(NEWS / "quake_taiwan.txt"))
    corpus.index.add(ref, other.shingles)
    assert corpus.check(*_read(NEWS / "boj_hold_march.txt")).kind == "new"
    assert check_near(corpus.index, other).other == ref


def test_sql_errors_become_store_errors(tmp_path: Path) -> None:
    """A database without the schema gives a StoreError, not a SQLAlchemy error."""
    bare = create_db_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        with pytest.raises(StoreError):
            SqlShingleIndex(bare).overlaps(fingerprint("a b c d e", "f g h i j").shingles)
    finally:
        bare.dispose()


def test_check_inside_a_transaction_sees_uncommitted_rows(engine: Engine) -> None:
    """A story stored earlier in the same transaction already drops its copy."""
    title, body = _read(NEWS / "tariffs_akazawa.txt")
    print_ = fingerprint(title, body)
    with engine.begin() as conn:
        feed_id = _insert(conn, insert(Feed).values(url="https://x.test/t"))
        story_id = _insert(
            conn,
            insert(Story).values(
                feed_id=feed_id,
                guid="g1",
                title=title,
                summary=body,
                published_at=NOW,
                first_seen_at=NOW,
                content_hash=print_.content_hash,
            ),
        )
        assert check_near_in(conn, print_).kind == "new"
        add_shingles(conn, DocRef("story", story_id), print_.shingles)
        copy = fingerprint("Akazawa to Washington", body)
        verdict = check_near_in(conn, copy, since=NOW - timedelta(days=1))
    assert verdict.kind == "duplicate"
    assert verdict.other == DocRef("story", story_id)


@given(
    st.lists(st.frozensets(st.integers(0, 40), max_size=12), max_size=12),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_batch_index_finds_what_the_memory_index_finds(
    signatures: list[frozenset[int]], min_shared: int, max_postings: int
) -> None:
    """A feed's entries checked against each other agree with the general index."""
    batch, memory = BatchIndex(max_postings), MemoryShingleIndex(max_postings)
    for number, signature in enumerate(signatures):
        found = sorted(batch.overlaps(signature, min_shared))
        expected = sorted(
            (c.ref.id, c.shared, c.size) for c in memory.overlaps(signature, None, min_shared)
        )
        assert found == expected
        batch.add(number, signature)
        memory.add(DocRef("story", number), signature)


def _story_row(conn: Connection, feed_id: int, size: int, seen: datetime) -> DocRef:
    """A bare story row of `size` shingles first seen at `seen`."""
    values = {
        "feed_id": feed_id,
        "guid": uuid.uuid4().hex,
        "title": "t",
        "summary": "s",
        "published_at": seen,
        "first_seen_at": seen,
        "content_hash": uuid.uuid4().hex,
        "shingle_count": size,
    }
    return DocRef("story", _insert(conn, insert(Story).values(values)))


@dataclass
class Scenario:
    """One random case of a look-up test, inside a transaction rolled back after it."""

    conn: Connection
    feed_id: int
    rng: random.Random
    max_postings: int
    universe: int

    def signature(self) -> frozenset[int]:
        """Random shingles over a small range of hashes, so that documents share many."""
        return frozenset(self.rng.sample(range(self.universe), self.rng.randint(1, 6)))

    def seen(self) -> datetime:
        """A first-seen time inside the one-day history, or before it."""
        return self.rng.choice([NOW, NOW - timedelta(days=3)])


def _scenarios(engine: Engine, seed: int, rounds: int) -> Iterator[Scenario]:
    """`rounds` random cases over one feed; the postings cap is small, so that some
    shingles go over it."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        feed_id = _insert(conn, insert(Feed).values(url=f"https://x.test/{seed}"))
        conn.commit()
        for _ in range(rounds):
            with conn.begin() as transaction:
                universe, max_postings = rng.randint(6, 16), rng.randint(1, 3)
                yield Scenario(conn, feed_id, rng, max_postings, universe)
                transaction.rollback()


SINCE = NOW - timedelta(days=1)


def test_pending_documents_are_found_as_if_their_rows_were_written(engine: Engine) -> None:
    """Look-ups with some documents still pending give what they give once those
    documents' rows are in the table: shared counts, sizes, the postings cap and the
    `since` cut-off included (small hash ranges make every case come up)."""
    for case in _scenarios(engine, 20261122, 60):
        conn, rng = case.conn, case.rng
        for _ in range(rng.randint(0, 6)):  # written before the look-up
            shingles, seen = case.signature(), case.seen()
            add_shingles(conn, _story_row(conn, case.feed_id, 0, seen), shingles)  # sets size
        pending = PendingShingles()
        for _ in range(rng.randint(1, 6)):
            shingles, seen = case.signature(), case.seen()
            pending.add(_story_row(conn, case.feed_id, len(shingles), seen), shingles, seen)
        queries = [case.signature() for _ in range(rng.randint(1, 4))]
        least, cap = rng.randint(1, 3), case.max_postings
        found = find_overlaps_many(conn, queries, SINCE, least, cap, pending)
        insert_new_shingles(conn, pending.docs)
        assert found == find_overlaps_many(conn, queries, SINCE, least, cap)


def test_a_feed_look_up_finds_what_one_look_up_per_story_finds(engine: Engine) -> None:
    """`find_overlaps_many`, which reads sizes only for the documents that share enough,
    agrees with `find_overlaps`, which joins every posting's size: seeds, stories seen
    before `since` and shingles held by more than the cap included."""
    for case in _scenarios(engine, 7, 30):
        conn, rng = case.conn, case.rng
        for number in range(rng.randint(1, 8)):
            if rng.random() < 0.3:
                values = {"path": f"s{number}", "title": "t", "text": "s", "content_hash": "h",
                          "file_hash": "f", "imported_at": NOW}  # fmt: skip
                ref = DocRef("seed", _insert(conn, insert(SeedDocument).values(values)))
            else:
                ref = _story_row(conn, case.feed_id, 0, case.seen())
            add_shingles(conn, ref, case.signature())
        queries = [case.signature() for _ in range(rng.randint(1, 4))]
        least, cap = rng.randint(1, 3), case.max_postings
        found = find_overlaps_many(conn, queries, SINCE, least, cap)
        assert found == [find_overlaps(conn, query, SINCE, least, cap) for query in queries]
