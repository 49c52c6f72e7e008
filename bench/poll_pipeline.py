"""The whole polling pipeline over 1,000 local feeds: fetch, parse, de-duplicate, store, match.

Usage: .venv/bin/python bench/poll_pipeline.py [--feeds 1000] [--entries 50] [--db URL] [--plain]
       [--parse-workers N]

A server in its own process serves `--feeds` RSS feeds of `--entries` entries each, with
varied text (so de-duplication sees distinct stories), from 100 host names resolved to
127.0.0.1. `pipeline.poll_feeds` runs on a real database (a fresh SQLite file by default):

- cycle 1 stores every entry (new stories stored per second, against feedparser's raw
  rate measured in the same run on the same bodies);
- cycle 2 is the realistic mix: 80% unchanged with validators (304), 10% unchanged
  without validators (skipped by body hash), 10% with 5 new entries each;
- cycle 3 changes nothing: the CPU the whole pipeline spends on an unchanged feed
  (fetch, 304 or hash check, recording the poll in the database).

Goals (issue): a mixed cycle under 10 s wall; unchanged feeds under 1 ms CPU each; new
stories stored at 70% or more of the raw parse rate.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedserver
from rates import feedparser_rate

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


def main() -> None:
    """Run two cycles and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--plain", action="store_true", help="plain-text descriptions instead of HTML"
    )
    parser.add_argument(
        "--parse-workers", type=int, default=None, help="parser processes (default: the setting's)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.feeds, args.entries, args.plain)
        return

    from worker import pipeline
    from worker.app import build_worker
    from worker.config import load_settings
    from worker.procs import settle_heap
    from worker.store.db import upgrade

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", f"--feeds={args.feeds}", f"--entries={args.entries}"]
        + (["--plain"] if args.plain else []),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    sample = feed_body(1, args.entries, 1, args.plain)
    raw_rates = [feedparser_rate(sample)]  # measured again right after cycle 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "watchlists"
        folder.mkdir()
        urls = [f"http://host{i % HOSTS}.bench.test:{port}/feed/{i}.xml" for i in range(args.feeds)]
        (folder / "bench.yaml").write_text(
            "name: bench\nquery: 'steel AND tariff'\nschedule: '0 8 * * *'\nfeeds:\n"
            + "".join(f"  - {url}\n" for url in urls)
        )
        clock = {"now": datetime.now(UTC)}
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
            figures = []
            storing: dict[int, float] = {}
            for number in (1, 2, 3):
                if number == 2:
                    import urllib.request

                    urllib.request.urlopen(
                        urllib.request.Request(f"http://127.0.0.1:{port}/advance", method="POST")
                    ).close()
                if number > 1:
                    clock["now"] += timedelta(days=1)
                child0 = children_cpu(server.pid)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                thread0 = time.thread_time()  # poll_feeds stores on the calling thread
                report = pipeline.poll_feeds(worker)
                wall = time.perf_counter() - wall0
                cpu = time.process_time() - cpu0
                storing[number] = time.thread_time() - thread0
                child1 = children_cpu(server.pid)
                figures.append(
                    (number, report, wall, cpu, child1[0] - child0[0], child1[1] - child0[1])
                )
                if number == 1:
                    raw_rates.append(feedparser_rate(sample))
        finally:
            worker.close()
            server.terminate()
            server.wait()
            server.stdout.close()

    descriptions = "plain text" if args.plain else "HTML"
    print(
        f"feeds: {args.feeds} x {args.entries} entries ({descriptions} descriptions); "
        f"database: {args.db or 'SQLite file'}; parser processes: {settings.parse_workers}"
    )
    raw_rate = max(raw_rates)  # the machine's speed drifts: compare with the faster one
    print(
        f"feedparser raw rate: {raw_rate:.0f} entries/s (one core, same bodies; best of "
        f"{raw_rates[0]:.0f} before and {raw_rates[1]:.0f} after cycle 1)"
    )
    for number, report, wall, cpu, parsers, served in figures:
        stored = report.stories_new + report.stories_duplicate
        print(
            f"cycle {number}: wall {wall:.2f} s, worker CPU {cpu:.2f} s; feeds {report.feeds}, "
            f"304/unchanged {report.not_modified}, failed {report.failed}, "
            f"stories stored {stored} ({report.stories_new} new, "
            f"{report.stories_duplicate} duplicates), matches queued {report.matches_queued}"
        )
        if report.errors:
            print(f"  first errors: {report.errors[:3]}")
        if stored:
            rate = stored / wall
            print(
                f"  stored {rate:.0f} stories/s of cycle wall time = "
                f"{rate / raw_rate:.0%} of the raw parse rate (of the rate measured before: "
                f"{rate / raw_rates[0]:.0%}, after: {rate / raw_rates[1]:.0%})"
            )
            per_story = storing[number] * 1000 / stored
            print(
                f"  storing thread CPU {storing[number]:.2f} s = {per_story:.3f} ms per stored "
                f"story (feedparser: {1000 / raw_rate:.3f} ms per entry); parser processes "
                f"{parsers:.2f} s = {parsers * 1000 / stored:.3f} ms per stored story"
            )
            print(f"  (the feed server, on the same cores, used {served:.2f} s of CPU)")
    _, report2, _, cpu2, _, _ = figures[1]
    unchanged = report2.not_modified
    print(f"cycle 2 CPU per feed (all feeds, worker process): {cpu2 * 1000 / args.feeds:.2f} ms")
    print(f"  ({unchanged} of {args.feeds} feeds were unchanged)")
    _, report3, _, cpu3, _, _ = figures[2]
    print(
        f"cycle 3 (nothing changed) CPU per unchanged feed, whole pipeline: "
        f"{cpu3 * 1000 / max(report3.not_modified, 1):.2f} ms"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (worker process): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
