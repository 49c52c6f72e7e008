"""One writer per SQLite file: `wirewatch run` holds `<db>.lock` for the life of the process.

Replicas share work only on PostgreSQL; on SQLite a second `wirewatch run` on the same
file would poll every feed twice, so it refuses to start. The lock is an exclusive,
non-blocking `fcntl.flock` on a file next to the database; the kernel drops it when the
process dies, however it dies, so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from worker.errors import WirewatchError


class AlreadyRunning(WirewatchError):
    """Another `wirewatch run` holds the SQLite database."""

    def __init__(self, lock_path: Path) -> None:
        super().__init__(
            f"another wirewatch process is using this SQLite database (lock {lock_path} is held);"
            " stop it first, or use PostgreSQL to run several replicas"
        )
        self.lock_path = lock_path


def sqlite_lock_path(database_url: str) -> Path | None:
    """`<db>.lock` for a SQLite file URL; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + ".lock")


@contextmanager
def single_writer(database_url: str) -> Iterator[Path | None]:
    """Hold the SQLite lock file while the block runs; raise `AlreadyRunning` if taken."""
    path = sqlite_lock_path(database_url)
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)
