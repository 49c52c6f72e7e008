"""Locks that die with their holder: PostgreSQL session-level advisory locks.

A delivery pass holds one lock per destination for as long as it sends to it, on one
connection of its own. If the process dies (even by SIGKILL) the server ends the session
and the locks go with it, so a restarted worker or another replica can send at once;
there is no lease to wait out. On SQLite there is nothing to do: one process at a time
uses a database file (`worker.ops.single`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def lock_key(name: str) -> int:
    """A signed 64-bit key for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class NamedLocks:
    """Try-locks by name on one held connection (or, without one, always granted)."""

    def __init__(self, connection: Connection | None) -> None:
        self._connection = connection
        self._held: set[int] = set()

    def try_acquire(self, name: str) -> bool:
        """Take the lock if nobody holds it; False when another session does."""
        if self._connection is None:
            return True
        key = lock_key(name)
        got = bool(self._connection.execute(_TRY, {"key": key}).scalar())
        if got:
            self._held.add(key)
        return got

    def release(self, name: str) -> None:
        """Give a lock back (a no-op for a lock not held)."""
        key = lock_key(name)
        if self._connection is not None and key in self._held:
            self._connection.execute(_UNLOCK, {"key": key})
            self._held.discard(key)

    def release_all(self) -> None:
        """Give back every lock still held."""
        if self._connection is not None:
            for key in list(self._held):
                self._connection.execute(_UNLOCK, {"key": key})
        self._held.clear()


@contextmanager
def named_locks(engine: Engine) -> Iterator[NamedLocks]:
    """Advisory locks on a connection held for the block (PostgreSQL), else no-op locks."""
    if engine.dialect.name != "postgresql":
        yield NamedLocks(None)
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        locks = NamedLocks(connection)
        try:
            yield locks
        finally:
            locks.release_all()
