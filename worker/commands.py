"""Operator commands: look at feeds, deliveries, stories and the database; retry; backfill.

`register(commands)` adds them to the `wirewatch` parser::

    wirewatch feeds status                       health of every feed
    wirewatch deliveries list [--status S]       the outbox, newest first
    wirewatch deliveries retry ID                send one delivery again, same webhook-id
    wirewatch digest preview NAME [--format F]   the pending digest, rendered, nothing sent
    wirewatch stories show ID                    a story, its de-dup verdict, cluster, matches
    wirewatch db stats                           rows per table and sizes
    wirewatch watchlists test NAME --text ...    whether and why a watchlist matches
    wirewatch watchlists backfill NAME --since   queue stored stories for a new watchlist

No command prints a webhook URL or secret: deliveries show the destination key and host.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias, cast

from worker.app import Worker, build_worker
from worker.commands_output import (
    Cell,
    host_of,
    human_bytes,
    json_rows,
    table,
    truncate,
    when,
)
from worker.config import Settings
from worker.store import outbox, queries
from worker.store.db import upgrade
from worker.store.tables import Delivery

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DELIVERY_STATUSES = (outbox.PENDING, outbox.DELIVERED, outbox.FAILED, outbox.DEAD, outbox.DISABLED)
ERROR_WIDTH = 60


def register(commands: Subparsers) -> None:
    """Add the operator commands to the top-level sub-command action of `wirewatch`."""
    from worker.commands_stories import register_stories
    from worker.commands_watchlists import register_watchlists

    feeds = group(commands, "feeds", "feed commands")
    status = feeds.add_parser("status", help="show the health of every feed")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=cmd_feeds_status)

    deliveries = group(commands, "deliveries", "webhook delivery commands")
    listing = deliveries.add_parser("list", help="list deliveries, newest first")
    listing.add_argument("--status", choices=DELIVERY_STATUSES, help="only this status")
    listing.add_argument("--limit", type=positive, default=50, help="at most N rows (50)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=cmd_deliveries_list)
    retry = deliveries.add_parser(
        "retry", help="send one delivery again now, with the same webhook-id"
    )
    retry.add_argument("id", metavar="ID", help="the delivery id (its webhook-id)")
    retry.set_defaults(handler=cmd_deliveries_retry)

    db = group(commands, "db", "database commands")
    db.add_parser("stats", help="show row counts and sizes of the tables").set_defaults(
        handler=cmd_db_stats
    )
    register_stories(commands)
    register_watchlists(commands)


def group(commands: Subparsers, name: str, help_text: str) -> Subparsers:
    """The sub-command action under `name`, created or (if the parser has it) reused."""
    parser = commands.choices.get(name)
    if parser is None:
        parser = commands.add_parser(name, help=help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return cast(Subparsers, action)
    return parser.add_subparsers(metavar="COMMAND")


def positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


@contextmanager
def opened(settings: Settings) -> Iterator[Worker]:
    """A worker whose schema is up to date, closed afterwards."""
    worker = build_worker(settings)
    try:
        upgrade(worker.engine)
        yield worker
    finally:
        worker.close()


def show(rows: list[dict[str, Cell]], as_json: bool, empty: str) -> None:
    """Print a listing as JSON or as a table (a line saying so when it is empty)."""
    if as_json:
        print(json_rows(rows))
    elif not rows:
        print(empty)
    else:
        headers = list(rows[0])
        print(table(headers, [[row[key] for key in headers] for row in rows]))


def cmd_feeds_status(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch feeds status [--json]`."""
    with opened(settings) as worker, worker.sessions() as session:
        feeds = queries.feeds_by_url(session)
    rows: list[dict[str, Cell]] = []
    for feed in feeds:
        error = None
        if feed.consecutive_failures and feed.last_error_kind:
            error = f"{feed.last_error_kind}: {feed.last_error or ''}".rstrip(": ")
        rows.append(
            {
                "url": feed.url,
                "last_success": feed.last_success_at,
                "last_error": error if args.json else truncate(error, ERROR_WIDTH),
                "failures": feed.consecutive_failures,
                "last_status": feed.last_status,
                "next_poll": feed.next_poll_at,
                "disabled": feed.disabled,
            }
        )
    show(rows, args.json, "no feeds yet (they are added on the first poll)")
    return 0


def delivery_row(delivery: Delivery, *, full: bool = False) -> dict[str, Cell]:
    """The listing row of a delivery (its URL reduced to the host)."""
    return {
        "id": delivery.id,
        "watchlist": delivery.watchlist,
        "destination": delivery.destination,
        "host": host_of(delivery.url),
        "format": delivery.format,
        "part": f"{delivery.part}/{delivery.parts}",
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_code": delivery.last_status_code,
        "last_error": delivery.last_error if full else truncate(delivery.last_error, 40),
        "next_attempt": delivery.next_attempt_at,
        "created": delivery.created_at,
    }


def cmd_deliveries_list(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch deliveries list [--status S] [--limit N] [--json]`."""
    with opened(settings) as worker, worker.sessions() as session:
        found = queries.list_deliveries(session, args.status, args.limit)
    rows = [delivery_row(delivery, full=args.json) for delivery in found]
    show(rows, args.json, "no deliveries" + (f" with status {args.status}" if args.status else ""))
    return 0


def cmd_deliveries_retry(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch deliveries retry ID`: exit 0 when delivered, 1 when unknown or not delivered."""
    from worker.pipeline import deliver

    with opened(settings) as worker:
        with worker.sessions.begin() as session:
            before = queries.get_delivery(session, args.id)
            if before is None:
                print(f"wirewatch: no delivery with id {args.id}", file=sys.stderr)
                return 1
            previous = before.status
            queries.reset_for_retry(session, args.id, worker.clock())
        worker.registry.refresh()
        deliver(worker)
        with worker.sessions() as session:
            after = queries.get_delivery(session, args.id)
    assert after is not None
    code = after.last_status_code if after.last_status_code is not None else "-"
    print(
        f"delivery {after.id} ({after.destination} at {host_of(after.url)}): "
        f"{previous} -> {after.status}; attempts {after.attempts}, last code {code}"
    )
    if after.last_error and after.status != outbox.DELIVERED:
        print(f"last error: {truncate(after.last_error, 200)}")
    if after.status == outbox.PENDING:
        print(f"next attempt: {when(after.next_attempt_at)}")
    return 0 if after.status == outbox.DELIVERED else 1


def cmd_db_stats(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch db stats`."""
    with opened(settings) as worker, worker.sessions() as session:
        counts = queries.table_counts(session)
        sizes = queries.table_sizes(session)
        path = queries.sqlite_file(session)
        dialect = session.get_bind().dialect.name
    headers = ["table", "rows", *(["size"] if sizes else [])]
    rows: list[list[Cell]] = []
    for name, count in counts.items():
        rows.append([name, count, *([human_bytes(sizes[name])] if sizes else [])])
    print(f"database: {dialect}")
    print(table(headers, rows))
    if sizes:
        print(f"total size: {human_bytes(sum(sizes.values()))}")
    if path is not None:
        total = sum(
            candidate.stat().st_size
            for candidate in (path, path.with_name(path.name + "-wal"))
            if candidate.exists()
        )
        print(f"file: {path} ({human_bytes(total)} with its WAL)")
    return 0
