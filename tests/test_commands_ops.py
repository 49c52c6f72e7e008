"""`feeds status`, `deliveries list` and `retry`, `db stats`: on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from tests.servers import Response
from tests.test_commands_fixtures import HOOK_PATH, SECRET, Setup, setup, wirewatch

__all__ = ["setup"]


def test_feeds_status_shows_health_of_each_feed(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each feed gets a row; the broken one shows its error kind and one failure."""
    assert wirewatch(["run", "--once"]) == 0
    capsys.readouterr()
    assert wirewatch(["feeds", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "url", "last_success", "last_error", "failures", "last_status", "next_poll", "disabled"
    ]  # fmt: skip
    broken = next(line for line in lines if "/broken" in line)
    assert "http_5xx: HTTP 500" in broken
    assert broken.split()[-1] == "no"
    wire = next(line for line in lines if "/wire.rss" in line)
    assert " 200 " in wire and "http_5xx" not in wire

    assert wirewatch(["feeds", "status", "--json"]) == 0
    rows = {row["url"].rsplit("/", 1)[1]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["broken"]["failures"] == 1 and rows["broken"]["last_status"] == 500
    assert rows["broken"]["last_success"] is None
    assert rows["wire.rss"]["failures"] == 0 and rows["wire.rss"]["last_success"].endswith("Z")


def test_dead_delivery_is_listed_and_retried_with_the_same_webhook_id(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused delivery is listed dead; `retry` sends it again, signed, with the same id."""
    setup.receiver.routes[HOOK_PATH] = Response(b"down", 500)
    assert wirewatch(["run", "--once"]) == 0
    capsys.readouterr()

    assert wirewatch(["deliveries", "list", "--status", "dead", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "dead" and row["last_code"] == 500
    assert row["watchlist"] == "nippon-steel" and row["part"] == "1/1"
    assert row["destination"].startswith("dst_") and row["host"] == "127.0.0.1"
    assert wirewatch(["deliveries", "list"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["id", "watchlist", "destination", "host"]
    assert row["id"] in table and "HTTP 500" in table

    setup.receiver.routes[HOOK_PATH] = Response(b"ok", 200)
    assert wirewatch(["deliveries", "retry", row["id"]]) == 0
    out = capsys.readouterr().out
    assert f"delivery {row['id']}" in out and "dead -> delivered" in out
    first, second = setup.receiver.received(HOOK_PATH)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row["id"]
    Webhook(SECRET).verify(second.body, second.headers)

    assert wirewatch(["deliveries", "list", "--status", "dead"]) == 0
    assert capsys.readouterr().out.strip() == "no deliveries with status dead"
    assert wirewatch(["deliveries", "retry", "msg_unknown"]) == 1
    assert "no delivery with id msg_unknown" in capsys.readouterr().err


def test_db_stats_counts_rows_per_table(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """Row counts per table are printed, with table sizes (PostgreSQL) or file size (SQLite)."""
    assert wirewatch(["run", "--once"]) == 0
    capsys.readouterr()
    assert wirewatch(["db", "stats"]) == 0
    out = capsys.readouterr().out
    counts = {
        parts[0]: int(parts[1])
        for parts in (line.split() for line in out.splitlines())
        if len(parts) >= 2 and parts[1].isdigit()
    }
    assert counts["feeds"] == 3
    assert counts["stories"] == 5
    assert counts["seed_documents"] == 5
    assert counts["digests"] == 1 and counts["deliveries"] == 1
    if setup.database_url.startswith("sqlite"):
        assert "file: " in out and "wirewatch.db" in out
    else:
        assert "total size: " in out and "KiB" in out


def test_no_command_prints_a_webhook_url_or_secret(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every operator command keeps the webhook URL's token and the signing secret to itself."""
    setup.receiver.routes[HOOK_PATH] = Response(b"down", 500)
    assert wirewatch(["run", "--once"]) == 0
    capsys.readouterr()
    assert wirewatch(["deliveries", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    setup.poll_only()
    printed = []
    for argv in (
        ["feeds", "status"],
        ["feeds", "status", "--json"],
        ["deliveries", "list"],
        ["deliveries", "list", "--json"],
        ["deliveries", "retry", row["id"]],
        ["digest", "preview", "nippon-steel"],
        ["digest", "preview", "nippon-steel", "--format", "slack"],
        ["stories", "show", "1"],
        ["db", "stats"],
        ["watchlists", "test", "nippon-steel", "--text", "Nippon Steel"],
        ["watchlists", "backfill", "nippon-steel", "--since", "1d"],
    ):
        wirewatch(argv)
        captured = capsys.readouterr()
        printed.append(captured.out + captured.err)
    text = "\n".join(printed)
    assert "dst_" in text and "127.0.0.1" in text
    assert HOOK_PATH not in text and "T0KEN" not in text
    assert SECRET not in text and SECRET.removeprefix("whsec_") not in text
