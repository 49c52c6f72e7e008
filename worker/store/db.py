"""Engine creation and schema migrations (Alembic is the only thing that makes the schema)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from alembic import command

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "alembic"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for a bare `postgresql://` URL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_db_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"options": POSTGRESQL_OPTIONS},
    )


POSTGRESQL_OPTIONS = "-c jit=off"
"""Session settings for PostgreSQL connections.

JIT compilation pays off for long analytical queries; the worker runs many short ones,
and a per-feed near-duplicate look-up whose estimated cost crossed `jit_above_cost` took
42 ms with JIT against 8 ms without.
"""


SQLITE_CACHE_KIB = 65_536
"""Page cache per SQLite connection, allocated as pages are read (SQLite's default: 2 MiB).

The shingle index takes some 50 MiB at 50,000 stories and each new story inserts about
thirty rows at random places in it; with the default cache most of those inserts read
their page back from the operating system first.
"""
SQLITE_WAL_CHECKPOINT_PAGES = 50_000
"""Pages in the write-ahead log before it is copied back (SQLite's default: 1,000).

Each new story inserts its shingle rows at random places in the shingle index, so one
feed body changes about a thousand index pages. With a small log nearly every commit
would copy the log back to the database file (and sync it), each page as often as it
changed; with this one (about 200 MiB; the file is reused after each checkpoint) a page
that many commits changed is copied back once. Storing 50,000 new stories took 92 s with
10,000 pages and 72 s with 50,000 (`bench/poll_pipeline.py`).
"""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs the project's migrations on `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent).

    The migration runs under a lock (an advisory lock on PostgreSQL, a lock file next to
    a SQLite file), so processes starting together migrate one after the other instead of
    racing to create the same tables.
    """
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    from worker.store.locks import lock_key

    key = {"key": lock_key("wirewatch:migrate")}
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
