"""Shared fixtures: a database per test on SQLite and on PostgreSQL, local servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.servers import LocalServer, serving

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "WIREWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_database() -> Iterator[str]:
    name = f"wirewatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wirewatch.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    """A local HTTP server that serves feeds."""
    with serving() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """A local webhook receiver that records every request."""
    with serving() as server:
        yield server


def worker_env(database_url: str, watchlists: Path, **extra: str) -> dict[str, str]:
    """The environment of a `wirewatch` subprocess: this database and watchlist folder,
    the repository's seeds, and loopback allowed (the test servers run there)."""
    return {
        **os.environ,
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(watchlists),
        "WIREWATCH_SEEDS_DIR": str(REPO / "seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        **extra,
    }
