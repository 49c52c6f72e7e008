"""Settings come from WIREWATCH_* variables and .env; a bad one stops the start clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker import config
from worker.config import DEFAULT_SQLITE_URL, default_parse_workers, load_settings
from worker.errors import ConfigError


def test_defaults_use_sqlite_under_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With nothing set, the database is the SQLite file var/wirewatch.db."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("WIREWATCH_"):
            monkeypatch.delenv(key)
    settings = load_settings()
    assert settings.database_url == DEFAULT_SQLITE_URL == "sqlite:///var/wirewatch.db"
    assert settings.watchlists_dir == Path("watchlists")
    assert settings.seeds_dir == Path("seeds")


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A `.env` file in the working folder sets values."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WIREWATCH_LOG_LEVEL", raising=False)
    (tmp_path / ".env").write_text("WIREWATCH_LOG_LEVEL=DEBUG\n")
    assert load_settings().log_level == "DEBUG"


def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid value raises ConfigError naming the variable."""
    monkeypatch.setenv("WIREWATCH_POLL_INTERVAL_SECONDS", "often")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "WIREWATCH_POLL_INTERVAL_SECONDS"


def test_cli_stops_with_one_clear_line(tmp_path: Path) -> None:
    """`wirewatch run` with a bad setting exits 2 and prints one line naming it."""
    env = {**os.environ, "WIREWATCH_DATABASE_URL": "mysql://nope"}
    result = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--once"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "WIREWATCH_DATABASE_URL" in lines[0]


def test_parser_processes_leave_the_worker_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default one parser process per core but one (at least one); the setting wins."""
    assert [default_parse_workers(cores) for cores in (None, 1, 2, 8)] == [1, 1, 1, 7]
    monkeypatch.setattr(config, "available_cores", lambda: 4)
    assert load_settings().parse_workers == 3
    monkeypatch.setenv("WIREWATCH_PARSE_WORKERS", "0")
    assert load_settings().parse_workers == 0
