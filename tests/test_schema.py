"""The schema is made by Alembic alone, and the models agree with the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from worker.store.db import create_db_engine, upgrade
from worker.store.tables import Base


def test_migrations_match_models(database_url: str) -> None:
    """After `upgrade`, autogenerate finds no difference between models and database."""
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
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
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
