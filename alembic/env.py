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
def _sqlite_begins_first(connection: Connection) -> Iterator[None]:
    """Open the SQLite transaction before the first statement, DDL included.

    Python's sqlite3 driver only opens one before a data change, so the DDL of a
    migration that starts with it would be committed at once, and a migration that
    failed part-way would leave its first steps behind. The driver is put back as it was
    before the connection returns to the pool.
    """
    raw = connection.connection.driver_connection
    if connection.dialect.name != "sqlite" or raw is None:
        yield
        return
    previous = raw.isolation_level
    raw.isolation_level = None  # the driver leaves transactions alone
    try:
        connection.exec_driver_sql("BEGIN")
        yield
    except BaseException:
        connection.rollback()  # before the driver is put back, which may commit
        raise
    finally:
        raw.isolation_level = previous


def run_migrations_online() -> None:
    """Run every pending migration in one transaction (on SQLite too)."""
    engine = _engine()
    with engine.connect() as connection, _sqlite_begins_first(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
