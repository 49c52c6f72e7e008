"""Alembic environment: runs on the engine that wirewatch hands over, or on the settings' URL."""

from __future__ import annotations

from sqlalchemy import Engine

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


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    engine = _engine()
    with engine.connect() as connection:
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
