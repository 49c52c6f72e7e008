"""The whole polling pipeline over 1,000 local feeds: fetch, parse, de-duplicate, store, match.

Usage: .venv/bin/python bench/poll_pipeline.py [--feeds 1000] [--entries 50] [--db URL] [--plain]
       [--parse-workers N] [--rounds 2]

A server in its own process serves `--feeds` RSS feeds of `--entries` entries each, with
varied text (so de-duplication sees distinct stories), from 100 host names resolved to
127.0.0.1. `pipeline.poll_feeds` runs on a real database (a fresh SQLite file by default):

- cycle 1 stores every entry: new stories stored per second of its wall time, against
  feedparser's raw rate on the same bodies. It runs `--rounds` times, each on a fresh
  database, between passes of feedparser alone over all the bodies (raw, cycle, raw,
  cycle, raw): each cycle is compared with the two passes around it, so a machine whose
  speed drifts during the run moves both sides of the ratio alike;
- cycle 2 is the realistic mix: 80% unchanged with validators (304), 10% unchanged
  without validators (skipped by body hash), 10% with 5 new entries each;
- cycle 3 changes nothing: the CPU the whole pipeline spends on an unchanged feed
  (fetch, 304 or hash check, recording the poll in the database).

Cycles 2 and 3 run on the last round's database, after its write-ahead log has been
copied into it (SQLite; `settle_log`).

Goals (issue): a mixed cycle under 10 s wall; unchanged feeds under 1 ms CPU each; new
stories stored at 70% or more of the raw parse rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import feedserver
from rates import Pass, feedparser_pass

if TYPE_CHECKING:
    from worker.pipeline import PollReport

HOSTS = 100
NEW_ENTRIES = 5
VOCABULARY = (
    "steel tariff harbour port ship crane container market share deal talks minister trade "
    "export import factory plant furnace investment billion yen dollar union worker election "
    "court ruling bank rate inflation energy grid solar wind oil gas price forecast quarter "
    "profit loss revenue chip semiconductor car battery lithium mine railway bridge airport "
    "city council budget school hospital storm flood quake rescue police fire festival"
)
WORDS = VOCABULARY.split()
BASE = datetime(2026, 11, 1, tzinfo=UTC)


def kind_of(index: int) -> str:
    """The role of feed `index` in the mix of cycle 2."""
    slot = index % 10
    return "validators" if slot < 8 else "hash" if slot == 8 else "changed"


def entry_text(feed: int, n: int) -> tuple[str, str]:
    """A distinct headline and 50-word summary for entry `n` of `feed`."""
    rng = random.Random(feed * 100_003 + n)
    title = " ".join(rng.choice(WORDS) for _ in range(8)).capitalize()
    return title, " ".join(rng.choice(WORDS) for _ in range(50)) + "."


def feed_body(index: int, entries: int, version: int, plain: bool = False) -> bytes:
    """Feed `index` as RSS 2.0; version 2 has NEW_ENTRIES more recent entries.

    Descriptions are escaped HTML, as most feeds send them (a paragraph with a bold word
    and a link, as in `bench/poll.py`), unless `plain`.
    """
    first = NEW_ENTRIES if version == 2 else 0
    items = []
    for n in range(first + entries - 1, first - 1, -1):
        title, summary = entry_text(index, n)
        when = format_datetime(BASE + timedelta(minutes=n), usegmt=True)
        link = f"https://site{index % HOSTS}.example/{index}/{n}"
        if not plain:
            head, _, tail = summary.partition(" ")
            summary = (
                f"&lt;p&gt;&lt;b&gt;{head}&lt;/b&gt; {tail} "
                f"&lt;a href=&quot;{link}&quot;&gt;Read more&lt;/a&gt;&lt;/p&gt;"
            )
        items.append(
            f"<item><title>{title}</title><link>{link}</link><guid>feed-{index}-{n}</guid>"
            f"<pubDate>{when}</pubDate><description>{summary}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {index}</title><link>https://site{index % HOSTS}.example/</link>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


def serve(feeds: int, entries: int, plain: bool) -> None:
    """Serve the feeds until killed; `POST /advance` switches to the cycle-2 bodies."""
    version = {"v": 1}
    # Built before serving: making them is the publishers' work, not the worker's, and
    # this process shares the worker's cores.
    bodies = {(i, 1): feed_body(i, entries, 1, plain) for i in range(feeds)}
    bodies |= {(i, 2): feed_body(i, entries, 2, plain) for i in range(feeds)}

    def body_of(index: int) -> tuple[bytes, str]:
        v = 2 if version["v"] == 2 and kind_of(index) == "changed" else 1
        return bodies[index, v], f'"v{v}-{index}"'

    def advance() -> None:
        version["v"] = 2

    feedserver.serve(sys.stdout, body_of, lambda i: kind_of(i) != "hash", advance)


async def resolve_local(host: str, port: int) -> list[str]:
    """Every bench host name is the local server."""
    return ["127.0.0.1"]


def children_cpu(server: int) -> tuple[float, float]:
    """CPU seconds used so far by this process's children: the parser pool, and `server`.

    Read from ``/proc`` (Linux), since these processes live on between cycles.
    """
    me, parsers, served = str(os.getpid()), 0.0, 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if fields[1] == me:
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            if stat.parent.name == str(server):
                served += seconds
            else:
                parsers += seconds
    return parsers, served


def bytes_written() -> int:
    """Bytes this process has had written to storage so far (Linux ``/proc/self/io``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def this_bench(role: str, args: argparse.Namespace) -> list[str]:
    """The command that runs this bench in `role` (a hidden flag) over the same bodies."""
    command = [sys.executable, __file__, role, f"--feeds={args.feeds}", f"--entries={args.entries}"]
    return command + (["--plain"] if args.plain else [])


def raw_pass(args: argparse.Namespace) -> Pass:
    """feedparser alone over the cycle-1 bodies, in a fresh process (defaults, one core)."""
    out = subprocess.run(
        this_bench("--raw-pass", args), capture_output=True, text=True, check=True
    ).stdout
    return Pass(**json.loads(out))


@dataclass
class Cycle:
    """The figures of one polling cycle."""

    number: int
    report: PollReport
    wall: float
    cpu: float
    storing: float  # CPU of the storing thread (the caller's)
    parsers: float  # CPU of the parser processes
    served: float  # CPU of the feed server
    written: int  # bytes the worker process wrote to storage (the database and its log)

    @property
    def stored(self) -> int:
        """Stories stored, new or duplicate."""
        return self.report.stories_new + self.report.stories_duplicate


def run_cycle(worker: Any, number: int, server: int) -> Cycle:
    """One `pipeline.poll_feeds` over every due feed, with its figures."""
    from worker import pipeline

    child0, written0 = children_cpu(server), bytes_written()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    thread0 = time.thread_time()  # poll_feeds stores on the calling thread
    report = pipeline.poll_feeds(worker)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    storing = time.thread_time() - thread0
    child1 = children_cpu(server)
    parsers, served = child1[0] - child0[0], child1[1] - child0[1]
    written = bytes_written() - written0
    return Cycle(number, report, wall, cpu, storing, parsers, served, written)


@contextmanager
def fresh_worker(args: argparse.Namespace, port: int, clock: dict[str, datetime]) -> Iterator[Any]:
    """A worker on a database of its own (a fresh SQLite file unless `--db`), set up as
    `wirewatch run` sets itself up, watching every bench feed."""
    from worker.app import build_worker
    from worker.config import load_settings
    from worker.procs import settle_heap
    from worker.store.db import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "watchlists"
        folder.mkdir()
        urls = [f"http://host{i % HOSTS}.bench.test:{port}/feed/{i}.xml" for i in range(args.feeds)]
        (folder / "bench.yaml").write_text(
            "name: bench\nquery: 'steel AND tariff'\nschedule: '0 8 * * *'\nfeeds:\n"
            + "".join(f"  - {url}\n" for url in urls)
        )
        settings = load_settings(
            database_url=args.db or f"sqlite:///{Path(tmp) / 'bench.db'}",
            watchlists_dir=folder,
            allow_hosts=["127.0.0.1/32"],
            max_concurrency=50,
            **({} if args.parse_workers is None else {"parse_workers": args.parse_workers}),
            log_level="WARNING",
        )
        worker = build_worker(settings, clock=lambda: clock["now"], resolver=resolve_local, env={})
        try:
            upgrade(worker.engine)
            worker.registry.refresh()
            worker.warm_parsers()
            settle_heap()  # as `wirewatch run` does once it is set up
            yield worker
        finally:
            worker.close()


def settle_log(worker: Any) -> float | None:
    """Copy a SQLite database's write-ahead log into it and flush the disk; the seconds
    it took (None on another database).

    SQLite does this by itself each time the log reaches `SQLITE_WAL_CHECKPOINT_PAGES`;
    whether one falls into the short mixed cycle depends on what cycle 1 left in the log.
    Done here, cycle 2 starts from the same state whatever came before, and what cycle
    1 left to copy is printed on its own.
    """
    if worker.engine.dialect.name != "sqlite":
        return None
    started = time.perf_counter()
    with worker.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()
    return time.perf_counter() - started


def print_cycle(cycle: Cycle, raw: tuple[Pass, Pass] | None) -> None:
    """The figures of one cycle; for a first cycle, its rate against the passes around it."""
    report = cycle.report
    print(
        f"cycle {cycle.number}: wall {cycle.wall:.2f} s, worker CPU {cycle.cpu:.2f} s; "
        f"feeds {report.feeds}, 304/unchanged {report.not_modified}, failed {report.failed}, "
        f"stories stored {cycle.stored} ({report.stories_new} new, "
        f"{report.stories_duplicate} duplicates), matches queued {report.matches_queued}"
    )
    if report.errors:
        print(f"  first errors: {report.errors[:3]}")
    if not cycle.stored:
        return
    rate = cycle.stored / cycle.wall
    if raw is None:
        print(f"  stored {rate:.0f} stories/s of cycle wall time")
    else:
        around = (raw[0].rate + raw[1].rate) / 2
        print(
            f"  stored {rate:.0f} stories/s of cycle wall time = {rate / around:.0%} of the "
            f"raw parse rate around it ({raw[0].rate:.0f} before, {raw[1].rate:.0f} after: "
            f"{rate / raw[0].rate:.0%}, {rate / raw[1].rate:.0%})"
        )
    ms = 1000 / cycle.stored
    print(
        f"  storing thread CPU {cycle.storing:.2f} s = {cycle.storing * ms:.3f} ms per stored "
        f"story; parser processes {cycle.parsers:.2f} s = {cycle.parsers * ms:.3f} ms per "
        f"stored story; the feed server, on the same cores, {cycle.served:.2f} s"
    )
    print(f"  written to storage by the worker process: {cycle.written / 2**20:.0f} MiB")


def main() -> None:
    """Run the rounds of cycle 1, then cycles 2 and 3, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file a round)")
    parser.add_argument(
        "--plain", action="store_true", help="plain-text descriptions instead of HTML"
    )
    parser.add_argument(
        "--parse-workers", type=int, default=None, help="parser processes (default: the setting's)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="first cycles, each on a fresh database "
        "(default 2; 1 with --db, whose database is not emptied between rounds)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raw-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.feeds, args.entries, args.plain)
        return
    if args.raw_pass:
        bodies = [feed_body(i, args.entries, 1, args.plain) for i in range(args.feeds)]
        print(json.dumps(vars(feedparser_pass(bodies))))
        return
    rounds = args.rounds or (1 if args.db else 2)
    if args.db and rounds > 1:
        parser.error("--db keeps one database: use --rounds 1 with it")

    server = subprocess.Popen(this_bench("--serve", args), stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    clock = {"now": datetime.now(UTC)}
    passes = [raw_pass(args)]
    firsts: list[Cycle] = []
    later: list[Cycle] = []
    settled: float | None = None
    workers = 0
    try:
        for round_ in range(rounds):
            with fresh_worker(args, port, clock) as worker:
                workers = worker.settings.parse_workers
                firsts.append(run_cycle(worker, 1, server.pid))
                passes.append(raw_pass(args))
                if round_ < rounds - 1:
                    continue
                advance = urllib.request.Request(f"http://127.0.0.1:{port}/advance", method="POST")
                urllib.request.urlopen(advance).close()
                settled = settle_log(worker)
                for number in (2, 3):
                    clock["now"] += timedelta(days=1)
                    later.append(run_cycle(worker, number, server.pid))
    finally:
        server.terminate()
        server.wait()
        server.stdout.close()

    descriptions = "plain text" if args.plain else "HTML"
    print(
        f"feeds: {args.feeds} x {args.entries} entries ({descriptions} descriptions); "
        f"database: {args.db or 'SQLite file'}; parser processes: {workers}; rounds: {rounds}"
    )
    print(
        "feedparser raw rate, passes over the same bodies (one core, defaults, wall clock): "
        + ", ".join(f"{p.rate:.0f}" for p in passes)
        + " entries/s (CPU clock: "
        + ", ".join(f"{p.entries / p.cpu:.0f}" for p in passes)
        + ")"
    )
    for index, cycle in enumerate(firsts):
        print(f"round {index + 1}:")
        print_cycle(cycle, (passes[index], passes[index + 1]))
    stored = sum(c.stored for c in firsts) / sum(c.wall for c in firsts)
    raw = sum(p.entries for p in passes) / sum(p.wall for p in passes)
    print(
        f"new stories stored at {stored:.0f}/s over the {rounds} first cycles = "
        f"{stored / raw:.0%} of feedparser's raw rate over its {len(passes)} passes "
        f"({raw:.0f} entries/s; the passes ranged {min(p.rate for p in passes):.0f}-"
        f"{max(p.rate for p in passes):.0f})"
    )
    if settled is not None:
        print(f"log copied into the database and the disk flushed after cycle 1: {settled:.2f} s")
    for cycle in later:
        print_cycle(cycle, None)
    cycle2, cycle3 = later
    print(
        f"cycle 2 CPU per feed (all feeds, worker process): {cycle2.cpu * 1000 / args.feeds:.2f} ms"
    )
    print(f"  ({cycle2.report.not_modified} of {args.feeds} feeds were unchanged)")
    print(
        f"cycle 3 (nothing changed) CPU per unchanged feed, whole pipeline: "
        f"{cycle3.cpu * 1000 / max(cycle3.report.not_modified, 1):.2f} ms"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (worker process): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
