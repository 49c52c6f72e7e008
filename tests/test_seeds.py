"""Seed articles are parsed (front matter included) and imported idempotently."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import REPO
from worker.app import build_worker
from worker.config import load_settings
from worker.dedup.sql_index import unpack_hashes
from worker.seeds import iter_seed_files, parse_seed
from worker.store.db import upgrade
from worker.store.seed_docs import import_seeds
from worker.store.tables import SeedDocument, Shingle

NOW = datetime(2025, 2, 8, 9, 0, tzinfo=UTC)


def test_front_matter_gives_title_and_date() -> None:
    """The seed with YAML front matter yields its title and date, and the body without it."""
    seed = parse_seed("003.txt", (REPO / "seeds" / "003_b50103f100f16787.txt").read_bytes())
    assert seed.title == "Trump touts close Japan ties but pushes for 'even' trade balance"
    assert seed.published == datetime(2025, 2, 8, 9, 17, 19, tzinfo=UTC)
    assert not seed.text.startswith("---")
    assert seed.text.startswith("By Trevor Hunnicutt")


def test_plain_seed_takes_first_line_as_title() -> None:
    """A seed without front matter is titled by its first non-empty line."""
    seed = parse_seed("x.txt", b"\n\nHeadline here\nBody text.\n")
    assert seed.title == "Headline here"
    assert seed.published is None


def test_import_is_idempotent_and_picks_up_changes(database_url: str, tmp_path: Path) -> None:
    """Importing twice adds nothing; an edited file is re-indexed, not duplicated."""
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    worker = build_worker(load_settings(database_url=database_url, seeds_dir=seeds))
    try:
        upgrade(worker.engine)
        with worker.sessions.begin() as session:
            first = import_seeds(session, iter_seed_files(seeds), worker.near, NOW)
        with worker.sessions.begin() as session:
            second = import_seeds(session, iter_seed_files(seeds), worker.near, NOW)
        assert (first.added, second.added, second.unchanged) == (5, 0, 5)

        edited = seeds / "001_39e82dbfb20658a7.txt"
        original = edited.read_text(encoding="utf-8")
        assert original.count(" the ") > 3
        edited.write_text(original.replace(" the ", " a ") + "\nA late correction.\n")
        with worker.sessions.begin() as session:
            third = import_seeds(
                session, iter_seed_files(seeds), worker.near, NOW + timedelta(hours=1)
            )
        assert (third.added, third.updated, third.unchanged) == (0, 1, 4)
        with worker.sessions() as session:
            assert session.scalar(select(func.count()).select_from(SeedDocument)) == 5
            assert session.scalar(select(func.count()).select_from(Shingle)) > 500
            row = session.scalars(
                select(SeedDocument).where(SeedDocument.path.endswith(edited.name))
            ).one()
            indexed = set(
                session.scalars(
                    select(Shingle.hash).where(Shingle.doc_kind == "seed", Shingle.doc_id == row.id)
                )
            )
        print_ = worker.near.fingerprint(row.title, row.text)
        assert indexed == set(print_.shingles) == set(unpack_hashes(row.shingle_hashes))
        assert row.shingle_count == len(indexed)  # the edit's rows replaced the old ones
    finally:
        worker.close()
