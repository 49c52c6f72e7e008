"""Alembic environment: runs on the engine that wirewatch hands over, or on the settings' URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from alembic import context
from worker.store.tables import Base

target_metadata = Base.metadata


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        assert isinstance(engine, Engine)
        return engine
    from worker.config import load_settings
    from worker.store.db import create_db_engine

    return create_db_engine(load_settings().database_url)


@contextmanager
def _sqlite_migration(connection: Connection) -> Iterator[None]:
    """On SQLite: foreign keys off, and the transaction opened before the first statement.

    Python's sqlite3 driver only opens a transaction before a data change, so the DDL of
    a migration that starts with it would be committed at once, and a migration that
    failed part-way would leave its first steps behind. Foreign keys are off meanwhile
    (they cannot be turned off inside a transaction), as SQLite asks for table rebuilds:
    dropping the old copy of a parent table would otherwise delete its children through
    ``ON DELETE CASCADE``; `_check_foreign_keys` checks them before the commit. The
    driver and foreign keys are put back before the connection returns to the pool.
    """
    raw = connection.connection.driver_connection
    if connection.dialect.name != "sqlite" or raw is None:
        yield
        return
    previous = raw.isolation_level
    raw.isolation_level = None  # the driver leaves transactions alone
    try:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN")
        yield
    except BaseException:
        connection.rollback()
        raise
    finally:
        if raw.in_transaction:  # a failed COMMIT leaves it open
            raw.rollback()
        raw.execute("PRAGMA foreign_keys=ON")
        raw.isolation_level = previous


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit SQLite migrations that left rows pointing at nothing."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migrations left rows that break foreign keys: {broken[:5]}")


def run_migrations_online() -> None:
    """Run every pending migration in one transaction (on SQLite too)."""
    engine = _engine()
    with engine.connect() as connection, _sqlite_migration(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        _check_foreign_keys(connection)
        connection.commit()


run_migrations_online()
