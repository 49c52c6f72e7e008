"""The schema is made by Alembic alone, and the models agree with the migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from alembic import command
from worker.dedup import DocRef
from worker.dedup.sql_index import remove_shingles, unpack_hashes
from worker.store.db import MIGRATIONS_DIR, alembic_config, create_db_engine, upgrade
from worker.store.tables import Base


def assert_models_match(engine: Engine) -> None:
    """Autogenerate finds no difference between the models and the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_match_models(database_url: str) -> None:
    """After `upgrade`, autogenerate finds no difference between models and database."""
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        assert_models_match(engine)
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    """Running `upgrade` twice leaves every table in place and fails on nothing."""
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_all_succeed(database_url: str, tmp_path: Path) -> None:
    """Three `wirewatch db upgrade` processes started together all succeed, one schema."""
    env = {**os.environ, "WIREWATCH_DATABASE_URL": database_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worker", "db", "upgrade"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(process.wait(timeout=120), process.communicate()) for process in processes]
    assert [code for code, _ in outcomes] == [0, 0, 0], [err for _, (_, err) in outcomes]
    engine = create_db_engine(database_url)
    try:
        assert_models_match(engine)
    finally:
        engine.dispose()


def test_shingles_migration_keeps_the_index_and_lists_each_documents_rows(
    database_url: str,
) -> None:
    """Upgrading a database indexed before 0003 packs every document's rows into its owner
    (so it can be pruned by key) and keeps every row; downgrading brings the old table back.
    """
    engine = create_db_engine(database_url)
    rows = {("story", 1): [5, -3, 2**62], ("story", 2): [5, 9], ("seed", 1): [-(2**63), 7]}
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO feeds (id, url, consecutive_failures, failure_reported, disabled)"
                    " VALUES (1, 'https://f.example/rss', 0, false, false)"
                )
            )
            for story in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO stories (id, feed_id, guid, title, summary, published_at,"
                        " first_seen_at, content_hash, shingle_count) VALUES (:id, 1, :guid,"
                        " 't', '', '2020-01-01', '2020-01-01', :guid, :count)"
                    ),
                    {"id": story, "guid": f"g{story}", "count": len(rows[("story", story)])},
                )
            connection.execute(
                text(
                    "INSERT INTO seed_documents (id, path, title, text, content_hash, file_hash,"
                    " shingle_count, imported_at) VALUES (1, 'a.txt', 'a', 'a', 'a', 'a', 2,"
                    " '2020-01-01')"
                )
            )
            connection.execute(
                text("INSERT INTO shingles (hash, doc_kind, doc_id) VALUES (:h, :kind, :id)"),
                [{"h": h, "kind": k, "id": i} for (k, i), hashes in rows.items() for h in hashes],
            )
            connection.execute(
                text(
                    "INSERT INTO matches (story_id, watchlist, matched, hits, status, created_at)"
                    " VALUES (2, 'w', '[]', '[]', 'queued', '2020-01-01')"
                )
            )
        upgrade(engine)
        assert "ix_shingles_doc" not in {i["name"] for i in inspect(engine).get_indexes("shingles")}
        if engine.dialect.name == "sqlite":  # stored in its primary key: one B-tree
            with engine.connect() as connection:
                ddl = connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'shingles'")
                ).scalar_one()
            assert "WITHOUT ROWID" in ddl
        with engine.begin() as connection:
            for (kind, doc_id), hashes in rows.items():
                table = "stories" if kind == "story" else "seed_documents"
                packed = connection.execute(
                    text(f"SELECT shingle_hashes FROM {table} WHERE id = :id"), {"id": doc_id}
                ).scalar_one()
                assert unpack_hashes(packed) == sorted(hashes)
            remove_shingles(connection, DocRef("story", 1))
            left = connection.execute(text("SELECT doc_kind, doc_id, hash FROM shingles")).all()
            owner = connection.execute(
                text("SELECT shingle_count, shingle_hashes FROM stories WHERE id = 1")
            ).one()
        assert tuple(owner) == (0, None)  # the story no longer claims index rows
        assert sorted(left) == sorted(
            (k, i, h) for (k, i), hashes in rows.items() if (k, i) != ("story", 1) for h in hashes
        )
        command.downgrade(alembic_config(engine), "0002")
        assert "ix_shingles_doc" in {i["name"] for i in inspect(engine).get_indexes("shingles")}
        with engine.connect() as connection:
            after = connection.execute(text("SELECT doc_kind, doc_id, hash FROM shingles")).all()
        assert sorted(after) == sorted(left)
        assert "shingle_hashes" not in {c["name"] for c in inspect(engine).get_columns("stories")}
        with engine.connect() as connection:  # the stories and their matches are all there
            assert connection.execute(text("SELECT count(*) FROM matches")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM stories")).scalar_one() == 2
    finally:
        engine.dispose()


EXTRA_MIGRATION = """
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
"""


def with_extra_migration(engine: Engine, tmp_path: Path, body: str) -> Config:
    """An Alembic config for the project's migrations plus one more, whose `upgrade` is
    `body`; the database is brought up to the project's head first."""
    scripts = tmp_path / "alembic"
    shutil.copytree(MIGRATIONS_DIR, scripts)
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    source = EXTRA_MIGRATION.format(head=head, body=textwrap.indent(body.strip(), "    "))
    (scripts / "versions" / "9999_extra.py").write_text(source)
    upgrade(engine)
    config = alembic_config(engine)
    config.set_main_option("script_location", str(scripts))
    return config


def version_of(engine: Engine) -> str:
    """The revision the database is at."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_a_migration_that_fails_part_way_leaves_nothing_behind(
    database_url: str, tmp_path: Path
) -> None:
    """Its DDL is rolled back with it (SQLite included), and the version stays put."""
    engine = create_db_engine(database_url)
    try:
        config = with_extra_migration(engine, tmp_path, """
op.add_column("feeds", sa.Column("half_done", sa.Integer(), nullable=True))
op.create_table("half_made", sa.Column("id", sa.Integer(), primary_key=True))
raise RuntimeError("the migration broke off")
""")  # fmt: skip
        head = version_of(engine)
        with pytest.raises(RuntimeError, match="broke off"):
            command.upgrade(config, "head")
        assert "half_made" not in inspect(engine).get_table_names()
        assert "half_done" not in {c["name"] for c in inspect(engine).get_columns("feeds")}
        assert version_of(engine) == head
        assert_models_match(engine)
    finally:
        engine.dispose()


def test_rebuilding_a_parent_table_keeps_its_children(database_url: str, tmp_path: Path) -> None:
    """A migration that copies `feeds` to a new table (SQLite's batch mode) keeps the
    stories that point at it, and foreign keys are on again for the worker afterwards."""
    engine = create_db_engine(database_url)
    try:
        config = with_extra_migration(engine, tmp_path, """
recreate = "always" if op.get_bind().dialect.name == "sqlite" else "never"
with op.batch_alter_table("feeds", recreate=recreate) as batch:
    batch.add_column(sa.Column("note", sa.Text(), nullable=True))
""")  # fmt: skip
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO feeds (id, url, consecutive_failures, failure_reported, disabled)"
                    " VALUES (1, 'https://f.example/rss', 0, false, false)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO stories (feed_id, guid, title, summary, published_at,"
                    " first_seen_at, content_hash, shingle_count) VALUES (1, 'g', 't', '',"
                    " '2020-01-01', '2020-01-01', 'h', 0)"
                )
            )
        command.upgrade(config, "head")
        assert version_of(engine) == "9999"
        with engine.begin() as connection:
            assert connection.execute(text("SELECT count(*) FROM stories")).scalar_one() == 1
            connection.execute(text("DELETE FROM feeds"))  # the cascade works again
            assert connection.execute(text("SELECT count(*) FROM stories")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_migration_that_breaks_foreign_keys_is_refused(database_url: str, tmp_path: Path) -> None:
    """Rows pointing at nothing stop the migration (SQLite checks before the commit)."""
    engine = create_db_engine(database_url)
    try:
        config = with_extra_migration(engine, tmp_path, """
op.execute(
    "INSERT INTO stories (feed_id, guid, title, summary, published_at, first_seen_at,"
    " content_hash, shingle_count) VALUES (42, 'g', 't', '', '2020-01-01', '2020-01-01', 'h', 0)"
)
""")  # fmt: skip
        head = version_of(engine)
        with pytest.raises(Exception, match="foreign key"):
            command.upgrade(config, "head")
        assert version_of(engine) == head
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM stories")).scalar_one() == 0
    finally:
        engine.dispose()
