"""The `wirewatch` command. Settings are read here, once, and passed down as values."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from worker import __version__
from worker.config import Settings, load_settings
from worker.errors import ConfigError, WirewatchError

if TYPE_CHECKING:  # imported lazily at run time, so that `--help` stays quick
    from worker.app import Worker

log = logging.getLogger("wirewatch")

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wirewatch` console script and of `python -m worker`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return 2
    from worker.log import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except WirewatchError as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (also used by the docs test)."""
    parser = argparse.ArgumentParser(
        prog="wirewatch",
        description="Poll feeds, match watchlists, drop what you already read, send digests.",
    )
    parser.add_argument("--version", action="version", version=f"wirewatch {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the worker (the long-running service)")
    run.add_argument(
        "--once",
        action="store_true",
        help="poll every feed once, build and send every pending digest, then exit",
    )
    run.set_defaults(handler=cmd_run)

    db = commands.add_parser("db", help="database commands").add_subparsers(metavar="COMMAND")
    db.add_parser("upgrade", help="apply the schema migrations").set_defaults(
        handler=cmd_db_upgrade
    )
    db.add_parser(
        "prune", help="delete stories, matches and deliveries older than the retention settings"
    ).set_defaults(handler=cmd_db_prune)

    seeds = commands.add_parser("seeds", help="seed corpus commands").add_subparsers(
        metavar="COMMAND"
    )
    seeds.add_parser("import", help="import new or changed seed articles").set_defaults(
        handler=cmd_seeds_import
    )

    watchlists = commands.add_parser("watchlists", help="watchlist commands").add_subparsers(
        metavar="COMMAND"
    )
    watchlists.add_parser(
        "validate", help="check every watchlist file; exit 1 on any error"
    ).set_defaults(handler=cmd_watchlists_validate)

    demo = commands.add_parser(
        "demo", help="serve sample feeds on localhost, run one cycle, print the digest"
    )
    demo.set_defaults(handler=cmd_demo)

    from worker.commands import register

    register(commands)
    return parser


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch run [--once]`."""
    from worker.ops.single import single_writer

    with single_writer(settings.database_url):
        return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from worker import pipeline
    from worker.app import build_worker
    from worker.log import redact_watchlists
    from worker.procs import settle_heap
    from worker.schedule import Service
    from worker.store.db import upgrade

    worker = build_worker(settings)
    try:
        upgrade(worker.engine)
        _import_seeds(worker)
        worker.registry.refresh()  # logs each invalid file once, with file and field
        redact_watchlists(worker.registry.watchlists)
        settle_heap()
        if args.once:
            report = pipeline.run_once(worker)
            print(
                json.dumps(
                    {
                        "feeds": report.poll.feeds,
                        "feeds_failed": report.poll.failed,
                        "stories_new": report.poll.stories_new,
                        "stories_duplicate": report.poll.stories_duplicate,
                        "matches_queued": report.poll.matches_queued,
                        "digests": len(report.digests),
                        "delivered": report.delivery.delivered,
                        "retrying": report.delivery.retrying,
                        "failed": report.delivery.failed + report.delivery.dead,
                    }
                )
            )
            return 0
        if not Service(worker).start():
            logging.shutdown()
            os._exit(1)  # in-flight work overran the shutdown timeout: do not wait for it
        return 0
    finally:
        worker.close()


def _import_seeds(worker: Worker) -> None:
    """Import new or changed seeds, once across replicas starting together."""
    from datetime import timedelta

    from worker.seeds import iter_seed_files
    from worker.store import leases
    from worker.store.seed_docs import import_seeds

    directory = worker.settings.seeds_dir
    if not directory.is_dir():
        log.warning("no seeds folder", extra={"path": str(directory)})
        return
    with worker.sessions.begin() as session:  # replicas starting together import once
        if not leases.claim(
            session, "seeds", worker.instance_id, timedelta(minutes=10), worker.clock()
        ):
            log.info("another replica is importing the seeds")
            return
    try:
        with worker.sessions.begin() as session:
            result = import_seeds(session, iter_seed_files(directory), worker.near, worker.clock())
    finally:
        with worker.sessions.begin() as session:
            leases.release(session, "seeds", worker.instance_id)
    log.info(
        "seeds imported",
        extra={"added": result.added, "updated": result.updated, "unchanged": result.unchanged},
    )


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch db upgrade`."""
    from worker.store.db import create_db_engine, upgrade

    engine = create_db_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print("database schema is up to date")
    return 0


def cmd_db_prune(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch db prune`."""
    from worker.app import build_worker
    from worker.schedule import retention_policy
    from worker.store.db import upgrade
    from worker.store.retention import prune

    worker = build_worker(settings)
    try:
        upgrade(worker.engine)
        report = prune(worker.sessions, worker.clock(), retention_policy(worker))
    finally:
        worker.close()
    print("pruned: " + ", ".join(f"{n} {table}" for table, n in report.as_dict().items()))
    return 0


def cmd_seeds_import(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch seeds import`."""
    from worker.app import build_worker
    from worker.seeds import iter_seed_files
    from worker.store.db import upgrade
    from worker.store.seed_docs import import_seeds

    if not settings.seeds_dir.is_dir():
        print(f"wirewatch: seeds folder {settings.seeds_dir} does not exist", file=sys.stderr)
        return 1
    worker = build_worker(settings)
    try:
        upgrade(worker.engine)
        with worker.sessions.begin() as session:
            result = import_seeds(
                session, iter_seed_files(settings.seeds_dir), worker.near, worker.clock()
            )
    finally:
        worker.close()
    print(f"seeds: {result.added} added, {result.updated} updated, {result.unchanged} unchanged")
    return 0


def cmd_watchlists_validate(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch watchlists validate`."""
    import os

    from worker.watchlists.loader import load_watchlists

    directory = Path(settings.watchlists_dir)
    result = load_watchlists(directory, os.environ)
    for watchlist in result.watchlists:
        print(f"ok     {watchlist.path}: {watchlist.name}")
    for error in result.errors:
        print(f"error  {error}")
    if not result.watchlists and not result.errors:
        print(f"no watchlist files in {directory}")
    return 1 if result.errors else 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch demo`."""
    from worker.demo import run_demo

    return run_demo(settings)
