"""Ingesting a feed body: exact and near duplicates, within the batch and against the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError

from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.dedup.fingerprint import fingerprint
from worker.dedup.shingles import shingles
from worker.dedup.sql_index import unpack_hashes
from worker.ingest import ingest_entries, parse_and_prepare, prepare
from worker.models import Entry, Hit, Match
from worker.store import feeds as feed_repo
from worker.store import outbox
from worker.store.db import upgrade
from worker.store.retention import RetentionPolicy, prune
from worker.store.tables import MatchRow, SeedDocument, Shingle, Story

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WIRE = (
    "Nippon Steel said on Tuesday it would invest an additional 11 billion dollars in U.S. "
    "Steel plants in Pennsylvania and Indiana by 2028, including a new electric arc furnace "
    "in the Mon Valley, after the two companies completed their merger under a national "
    "security agreement that gives the federal government a golden share in the company."
)
OTHER = (
    "Toyota will build a battery plant in North Carolina that employs two thousand people, "
    "the carmaker said, as Japanese companies expand factories across the American south "
    "ahead of new tariffs on imported vehicles and parts announced by the White House."
)


@pytest.fixture
def worker(database_url: str, tmp_path: Path) -> Iterator[Worker]:
    """A worker on a migrated database with two feeds."""
    made = build_worker(load_settings(database_url=database_url, watchlists_dir=tmp_path), env={})
    upgrade(made.engine)
    with made.sessions.begin() as session:
        feed_repo.ensure_feeds(session, ["http://a.example/rss", "http://b.example/rss"])
    yield made
    made.close()


def ingest(worker: Worker, feed_id: int, entries: list[Entry]) -> tuple[list[int], int]:
    """Ingest one body; the ids of the stories kept and the number of duplicates."""
    with worker.sessions.begin() as session:
        fresh, duplicates = ingest_entries(session, feed_id, entries, NOW, worker.near)
    return [story.id for story in fresh], duplicates


def stories(worker: Worker) -> dict[str, Story]:
    """Every stored story, by guid."""
    with worker.sessions() as session:
        return {story.guid: story for story in session.scalars(select(Story))}


def entry(guid: str, title: str, text: str, url: str | None = None) -> Entry:
    """A feed entry published at NOW."""
    return Entry(guid=guid, url=url, title=title, summary=text, published=NOW)


def test_same_link_twice_in_one_body_is_stored_once_as_new(worker: Worker) -> None:
    """Two guids with one canonical URL: the second is a duplicate in the first's cluster."""
    kept, duplicates = ingest(worker, 1, [
        entry("1", "Steel deal", WIRE, "https://x.example/a?utm_source=rss"),
        entry("2", "Steel deal (updated)", WIRE + " Updated.", "https://X.example/a"),
    ])  # fmt: skip
    assert (len(kept), duplicates) == (1, 1)
    by_guid = stories(worker)
    assert by_guid["2"].dup_layer == "url"
    assert by_guid["2"].dup_of_id == by_guid["1"].id
    assert by_guid["2"].cluster_id == by_guid["1"].id


def test_near_duplicate_in_the_same_body_is_dropped(worker: Worker) -> None:
    """A reprint with a byline and a new headline, later in the same body, is a duplicate."""
    kept, duplicates = ingest(worker, 1, [
        entry("1", "Nippon Steel pledges $11bn more", WIRE),
        entry("2", "Mon Valley gets a furnace", "PITTSBURGH (Wire) - " + WIRE
              + " Reporting by Ann Writer; Editing by Bob Editor"),
        entry("3", "Toyota battery plant", OTHER),
    ])  # fmt: skip
    assert (len(kept), duplicates) == (2, 1)
    reprint = stories(worker)["2"]
    assert (reprint.dup_kind, reprint.dup_layer) == ("duplicate", "near")
    assert reprint.dup_of_id == stories(worker)["1"].id


def test_story_from_another_feed_joins_the_cluster(worker: Worker) -> None:
    """The same story from a second feed is folded into the first one's cluster."""
    (first,), _ = ingest(worker, 1, [entry("a1", "Nippon Steel pledges $11bn more", WIRE)])
    kept, duplicates = ingest(worker, 2, [
        entry("b1", "Fresh billions for U.S. Steel mills", WIRE),
        entry("b2", "Toyota battery plant", OTHER),
    ])  # fmt: skip
    assert (len(kept), duplicates) == (1, 1)
    assert stories(worker)["b1"].cluster_id == first


def test_an_entry_already_stored_is_not_stored_again(worker: Worker) -> None:
    """Ingesting the same body twice stores nothing the second time."""
    body = [entry("1", "Nippon Steel pledges $11bn more", WIRE), entry("2", "Toyota", OTHER)]
    kept, _ = ingest(worker, 1, body)
    assert len(kept) == 2
    assert ingest(worker, 1, body) == ([], 0)
    assert len(stories(worker)) == 2


def test_reprint_from_another_feed_is_found_on_sampled_shingles(worker: Worker) -> None:
    """A stored story indexes only its sampled shingles, and a reprint still finds it."""
    (first,), _ = ingest(worker, 1, [entry("a1", "Nippon Steel pledges $11bn more", WIRE)])
    with worker.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Shingle))
    print_ = fingerprint("Nippon Steel pledges $11bn more", WIRE)
    assert rows == print_.size < len(shingles(print_.text))
    kept, duplicates = ingest(worker, 2, [
        entry("b1", "Fresh billions for U.S. Steel mills", "By Ann Writer\n" + WIRE),
    ])  # fmt: skip
    assert (kept, duplicates) == ([], 1)
    reprint = stories(worker)["b1"]
    assert (reprint.dup_layer, reprint.dup_of_id) == ("near", first)


def test_story_indexed_with_every_shingle_is_still_found(worker: Worker) -> None:
    """A story stored before sampling (all its shingles indexed) is found by a reprint."""
    (first,), _ = ingest(worker, 1, [entry("a1", "Nippon Steel pledges $11bn more", WIRE)])
    print_ = fingerprint("Nippon Steel pledges $11bn more", WIRE)
    every = shingles(print_.text)
    with worker.sessions.begin() as session:
        session.execute(
            insert(Shingle),
            [{"hash": h, "doc_kind": "story", "doc_id": first} for h in every - print_.shingles],
        )
        session.execute(update(Story).where(Story.id == first).values(shingle_count=len(every)))
    kept, duplicates = ingest(worker, 2, [
        entry("b1", "Fresh billions for U.S. Steel mills", "By Ann Writer\n" + WIRE),
    ])  # fmt: skip
    assert (kept, duplicates) == ([], 1)
    assert stories(worker)["b1"].dup_of_id == first


def test_entries_prepared_ahead_are_judged_the_same(worker: Worker) -> None:
    """Entries prepared before storing (as a parser process does) get the same verdicts."""
    body = [
        entry("1", "Nippon Steel pledges $11bn more", WIRE),
        entry("2", "Mon Valley gets a furnace", "PITTSBURGH (Wire) - " + WIRE),
        entry("2", "Mon Valley gets a furnace", "PITTSBURGH (Wire) - " + WIRE),
        entry("3", "Toyota battery plant", OTHER),
    ]
    with worker.sessions.begin() as session:
        fresh, duplicates = ingest_entries(
            session, 1, body, NOW, worker.near, [prepare(e) for e in body]
        )
    assert ([s.title for s in fresh], duplicates) == (
        ["Nippon Steel pledges $11bn more", "Toyota battery plant"],
        1,
    )
    reprint = stories(worker)["2"]
    assert (reprint.dup_layer, reprint.dup_of_id) == ("near", stories(worker)["1"].id)


def test_parse_and_prepare_prepares_every_entry() -> None:
    """A parser process returns the feed and one prepared entry per entry, in order."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Steel</title><guid>g1</guid><description>Nippon Steel invests"
        b"</description></item><item><title>Cars</title><link>https://x.example/a?utm_source=rss"
        b"</link><description>Toyota builds</description></item></channel></rss>"
    )
    parsed, prepared = parse_and_prepare(
        body, url="http://a.example/rss", content_type="application/rss+xml", max_entries=50
    )
    assert [p.entry for p in prepared] == list(parsed.entries)
    assert [p.key for p in prepared] == ["g1", "https://x.example/a"]
    assert prepared[1].canonical == "https://x.example/a"
    assert prepared[0].print_ == fingerprint("Steel", "Nippon Steel invests")


def test_matches_of_a_feed_are_recorded_in_one_go(worker: Worker) -> None:
    """`record_matches` stores each match as `record_match` does, hits and status included."""
    kept, _ = ingest(worker, 1, [entry("1", "Steel", WIRE), entry("2", "Toyota", OTHER)])
    steel = Match("asia", (Hit("steel", "title", "**Steel**"), Hit("steel", "summary", "s")))
    cars = Match("cars", (Hit("toyota", "title", "**Toyota**"),))
    with worker.sessions.begin() as session:
        outbox.record_matches(
            session, [(kept[0], steel, outbox.QUEUED), (kept[1], cars, outbox.BACKLOG)], NOW
        )
        outbox.record_matches(session, [], NOW)
    with worker.sessions() as session:
        rows = session.scalars(select(MatchRow).order_by(MatchRow.story_id)).all()
        found = [(r.story_id, r.watchlist, r.matched, r.hits, r.status, r.created_at) for r in rows]
    assert found == [
        (kept[0], "asia", ["steel"], [
            {"term": "steel", "field": "title", "snippet": "**Steel**"},
            {"term": "steel", "field": "summary", "snippet": "s"},
        ], "queued", NOW),
        (kept[1], "cars", ["toyota"], [
            {"term": "toyota", "field": "title", "snippet": "**Toyota**"},
        ], "backlog", NOW),
    ]  # fmt: skip


def test_stored_stories_list_their_index_rows_and_retention_removes_them(worker: Worker) -> None:
    """Each new story's `shingle_hashes` names exactly its index rows, and pruning the
    stories (the new ones and one indexed without a list) leaves no row behind."""
    body = [
        entry("1", "Nippon Steel pledges $11bn more", WIRE),
        entry("2", "Toyota opens a battery plant", OTHER),
        entry("3", "Nippon Steel pledges $11bn more", "By Ann Writer\n" + WIRE),  # a repeat
    ]
    kept, duplicates = ingest(worker, 1, body)
    assert (len(kept), duplicates) == (2, 1)
    with worker.sessions.begin() as session:
        for story in session.scalars(select(Story)):
            rows = set(session.scalars(select(Shingle.hash).where(Shingle.doc_id == story.id)))
            assert sorted(rows) == unpack_hashes(story.shingle_hashes)
            assert len(rows) == story.shingle_count == (0 if story.dup_kind else len(rows))
        # a story indexed by a worker that kept no list (during an upgrade)
        session.execute(update(Story).where(Story.id == kept[1]).values(shingle_hashes=None))
    assert prune(worker.sessions, NOW + timedelta(days=400), RetentionPolicy(1, 1, 1)).stories
    with worker.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Story)) == 0
        assert session.scalar(select(func.count()).select_from(Shingle)) == 0


def shingle_rows(worker: Worker) -> int:
    """The rows of the shingle index, as another connection sees them."""
    with worker.sessions() as session:
        return session.scalar(select(func.count()).select_from(Shingle)) or 0


def test_a_copy_from_a_later_feed_of_the_same_transaction_is_dropped(worker: Worker) -> None:
    """Feeds stored in one transaction: the second feed's reprint of the first feed's
    story is a duplicate, though the first story's index rows are written only at commit."""
    size = fingerprint("Nippon Steel pledges $11bn more", WIRE).size
    with worker.sessions.begin() as session:
        (first,), _ = ingest_entries(
            session, 1, [entry("a1", "Nippon Steel pledges $11bn more", WIRE)], NOW, worker.near
        )
        fresh, duplicates = ingest_entries(
            session,
            2,
            [entry("b1", "Mills get billions", "By Ann Writer\n" + WIRE), entry("b2", "", OTHER)],
            NOW,
            worker.near,
        )
        in_transaction = session.scalar(select(func.count()).select_from(Shingle))
    assert ([story.title for story in fresh], duplicates) == ([""], 1)
    reprint = stories(worker)["b1"]
    assert (reprint.dup_layer, reprint.dup_of_id) == ("near", first.id)
    assert in_transaction == 0  # waiting for the commit
    assert shingle_rows(worker) == size + fingerprint("", OTHER).size


def test_a_rolled_back_transaction_leaves_no_index_rows(worker: Worker) -> None:
    """Stories rolled back take their waiting index rows with them: the session's next
    transaction writes none of them, and a later copy of the story is new."""
    with worker.sessions() as session:
        with session.begin():
            ingest_entries(session, 1, [entry("a1", "Steel", WIRE)], NOW, worker.near)
            session.rollback()
        with session.begin():
            ingest_entries(session, 1, [entry("t1", "Toyota", OTHER)], NOW, worker.near)
    assert set(stories(worker)) == {"t1"}
    assert shingle_rows(worker) == fingerprint("Toyota", OTHER).size
    kept, duplicates = ingest(worker, 2, [entry("b1", "Steel", "By Ann Writer\n" + WIRE)])
    assert (len(kept), duplicates) == (1, 0)


def test_a_stored_story_row_is_what_sqlalchemy_would_have_written(worker: Worker) -> None:
    """The story insert hands the driver values converted as SQLAlchemy's own insert would:
    the raw row of an ingested story equals the one an ORM-level insert of it writes."""
    published = datetime(2026, 3, 1, 23, 59, 58, 123456, tzinfo=UTC)
    item = Entry(guid="raw", url="https://x.example/raw?utm_source=a", title="Steel",
                 summary=WIRE, author="Ann Writer", language="en", published=published)  # fmt: skip
    kept, _ = ingest(worker, 1, [item])
    with worker.sessions.begin() as session:
        stored = session.get(Story, kept[0])
        assert stored is not None
        values = {
            column.name: getattr(stored, column.name)
            for column in Story.__table__.columns
            if column.name not in ("id", "guid")
        }
        session.execute(insert(Story).values(guid="copy", **values))
    columns = [c.name for c in Story.__table__.columns if c.name not in ("id", "guid")]
    with worker.engine.connect() as conn:
        first, copy = conn.exec_driver_sql(f"SELECT {', '.join(columns)} FROM stories").all()
    assert dict(zip(columns, first, strict=True)) == dict(zip(columns, copy, strict=True))
    assert stored.published_at == published and stored.first_seen_at == NOW


def test_a_commit_that_cannot_write_the_index_rows_stores_nothing(worker: Worker) -> None:
    """When writing the waiting index rows fails at commit, the commit fails, and trying
    it again fails the same way: the stories are never committed without their rows."""
    with worker.sessions() as session:
        session.begin()
        (story,), _ = ingest_entries(session, 1, [entry("a1", "Steel", WIRE)], NOW, worker.near)
        taken = min(fingerprint("Steel", WIRE).shingles)
        session.execute(insert(Shingle).values(hash=taken, doc_kind="story", doc_id=story.id))
        for _ in range(2):
            with pytest.raises(DBAPIError):  # the key taken; then, on PostgreSQL, aborted
                session.commit()
        session.rollback()
    assert stories(worker) == {}
    assert shingle_rows(worker) == 0


def test_stories_stored_in_a_rolled_back_savepoint_leave_no_index_rows(worker: Worker) -> None:
    """A savepoint rolled back takes its stories and their index rows; one released
    keeps both, and the story stored before the savepoint is indexed at commit."""
    with worker.sessions.begin() as session:
        ingest_entries(session, 1, [entry("t1", "Toyota", OTHER)], NOW, worker.near)
        savepoint = session.begin_nested()
        ingest_entries(session, 1, [entry("a1", "Steel", WIRE)], NOW, worker.near)
        savepoint.rollback()
        with session.begin_nested():
            ingest_entries(session, 2, [entry("b1", "Steel", WIRE)], NOW, worker.near)
    assert set(stories(worker)) == {"t1", "b1"}
    assert stories(worker)["b1"].dup_kind is None  # not a copy of the story rolled back
    sizes = fingerprint("Toyota", OTHER).size + fingerprint("Steel", WIRE).size
    assert shingle_rows(worker) == sizes
    with worker.sessions() as session:
        owners = set(session.scalars(select(Shingle.doc_id).distinct()))
    assert owners == {stories(worker)["t1"].id, stories(worker)["b1"].id}


def test_stored_stories_and_seeds_are_found_by_url_and_by_text(worker: Worker) -> None:
    """A later feed's copy is found by canonical URL, or by the hash of its text, against
    stories stored before; a seed with the same text is preferred to a story."""
    (first,), _ = ingest(worker, 1, [entry("a1", "Steel", WIRE, "https://x.example/a?utm_x=1")])
    seed_text = fingerprint("Toyota", OTHER)
    with worker.sessions.begin() as session:
        session.execute(insert(SeedDocument).values(
            path="seeds/toyota.txt", title="Toyota", text=OTHER, file_hash="f",
            content_hash=seed_text.content_hash, imported_at=NOW,
        ))  # fmt: skip
        seed_id = session.scalar(select(SeedDocument.id))
    kept, duplicates = ingest(worker, 2, [
        entry("b1", "Another headline", OTHER + " More.", "https://x.example/a"),
        entry("b2", "Steel", WIRE),
        entry("b3", "Toyota", OTHER),
    ])  # fmt: skip
    assert (kept, duplicates) == ([], 3)
    found = stories(worker)
    assert (found["b1"].dup_layer, found["b1"].dup_of_id) == ("url", first)
    assert (found["b2"].dup_layer, found["b2"].dup_of_kind, found["b2"].dup_of_id) == (
        "hash", "story", first,
    )  # fmt: skip
    assert (found["b3"].dup_layer, found["b3"].dup_of_kind, found["b3"].dup_of_id) == (
        "hash", "seed", seed_id,
    )  # fmt: skip
