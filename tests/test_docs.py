"""The docs tell the truth: commands, settings and shipped watchlists."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tests.conftest import REPO
from worker.cli import build_parser
from worker.config import Settings
from worker.watchlists.loader import load_watchlists

README = (REPO / "README.md").read_text(encoding="utf-8")


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every runnable command path, such as `db upgrade`."""
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(leaf_commands(sub, (*prefix, name)))
    if not found and prefix:
        found.append(" ".join(prefix))
    return found


COMMANDS = leaf_commands(build_parser())


def test_readme_opens_with_the_two_setup_commands() -> None:
    """The README's first command block is exactly `make run` and `make test`."""
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented(command: str) -> None:
    """Each CLI command appears in the README as `wirewatch <command>`."""
    assert f"wirewatch {command}" in README


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """`wirewatch <command> --help` exits 0 and prints a usage line."""
    result = subprocess.run(
        [sys.executable, "-m", "worker", *command.split(), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("usage: wirewatch")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    """Each setting's environment variable is in the README's settings table."""
    assert f"`WIREWATCH_{name.upper()}`" in README


def test_shipped_watchlists_are_valid_without_any_environment() -> None:
    """The watchlists in the repository load cleanly on a new machine."""
    result = load_watchlists(REPO / "watchlists", {})
    assert result.errors == ()
    assert {w.name for w in result.watchlists} >= {"nippon-steel", "us-steel", "tariffs"}
