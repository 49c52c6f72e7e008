"""On SQLite one `wirewatch run` holds the database; a second refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.ops.single import AlreadyRunning, single_writer, sqlite_lock_path


def test_second_holder_in_the_same_file_is_refused(tmp_path: Path) -> None:
    """While one holder has the lock, another is refused with a message naming the lock."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with single_writer(url) as path:
        assert path == tmp_path / "w.db.lock"
        with pytest.raises(AlreadyRunning, match="another wirewatch process"), single_writer(url):
            pass
    with single_writer(url):  # released at the end of the block
        pass


def test_postgresql_needs_no_lock_file() -> None:
    """Replicas share a PostgreSQL database, so no lock file is taken there."""
    assert sqlite_lock_path("postgresql+psycopg://u@h/db") is None
    assert sqlite_lock_path("sqlite:///:memory:") is None


@pytest.mark.slow
def test_second_run_on_the_same_sqlite_file_exits_1(tmp_path: Path) -> None:
    """A second `wirewatch run` on a busy SQLite file exits 1 with a clear message."""
    (tmp_path / "watchlists").mkdir()
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "seeds"),
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "w.db.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "worker", "run", "--once"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 1
        assert "another wirewatch process is using this SQLite database" in second.stderr
    finally:
        first.terminate()
        _, stderr = first.communicate(timeout=30)
    assert first.returncode == 0, stderr
