"""One polling cycle over 1,000 local feeds: fetch_many, then parse what changed.

Usage: .venv/bin/python bench/poll.py [--feeds 1000] [--entries 50] [--concurrency 50]

A server in its own process serves `--feeds` RSS feeds of `--entries` entries each from
100 host names (all resolving to 127.0.0.1 through the resolver seam, so the per-host
limit behaves as with real sites). The mix is realistic: 80% unchanged with validators
(304), 10% unchanged without validators (same body: skipped by its hash), 10% with 5 new
entries. Changed bodies are parsed in a process pool of 2. A second cycle, where every
feed is unchanged, gives the CPU cost of an unchanged feed.

Goals: a cycle under 10 s wall; unchanged feeds under 1 ms CPU each.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TextIO

import feedserver
from rates import best_rate, feedparser_rate

from worker.fetch.client import FetchConfig, FetchLimits, build_client
from worker.fetch.guard import AddressPolicy
from worker.fetch.http import FetchRequest, FetchResult, body_hash, fetch_many
from worker.parse import parse_feed

HOSTS = 100
NEW_ENTRIES = 5


def kind_of(index: int) -> str:
    """Return the role of feed `index` in the mix."""
    slot = index % 10
    return "validators" if slot < 8 else "hash" if slot == 8 else "changed"


def feed_body(index: int, entries: int, version: int) -> bytes:
    """Return feed `index` as RSS 2.0; version 2 has NEW_ENTRIES more recent entries."""
    first = NEW_ENTRIES if version == 2 else 0
    numbers = range(first + entries - 1, first - 1, -1)
    items = []
    for n in list(numbers)[:entries]:
        when = format_datetime(datetime.fromtimestamp(1_700_000_000 + n * 3600, UTC), usegmt=True)
        items.append(
            f"<item><title>Feed {index} story {n}: harbour &amp; port news</title>"
            f"<link>https://site{index % HOSTS}.example/{index}/{n}</link>"
            f"<guid>feed-{index}-story-{n}</guid><pubDate>{when}</pubDate>"
            f"<description>&lt;p&gt;Story {n} of feed {index}: ships, cranes and "
            f"&lt;b&gt;containers&lt;/b&gt; moving through the harbour today.&lt;/p&gt;"
            f"</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {index}</title><link>https://site{index % HOSTS}.example/</link>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


def serve(port_out: TextIO, feeds: int, entries: int) -> None:
    """Run the feed server until killed (in its own process)."""
    bodies = {}
    for i in range(feeds):
        version = 2 if kind_of(i) == "changed" else 1
        bodies[i] = (feed_body(i, entries, version), f'"v{version}-{i}"')
    feedserver.serve(port_out, bodies.__getitem__, lambda i: kind_of(i) != "hash")


def parse_job(body: bytes, url: str, content_type: str | None) -> tuple[int, float]:
    """Parse one body in a pool worker; return its entry count and the CPU it took."""
    started = time.process_time()
    feed = parse_feed(body, url=url, content_type=content_type)
    return len(feed.entries), time.process_time() - started


def initial_requests(port: int, feeds: int, entries: int) -> list[FetchRequest]:
    """Return the requests as a store would hold them after the previous cycle."""
    requests = []
    for i in range(feeds):
        url = f"http://host{i % HOSTS}.bench.test:{port}/feed/{i}.xml"
        kind = kind_of(i)
        last_hash = body_hash(feed_body(i, entries, 1))
        etag = None if kind == "hash" else f'"v1-{i}"'
        requests.append(FetchRequest(url, etag=etag, last_body_hash=last_hash))
    return requests


async def resolve_local(host: str, port: int) -> list[str]:
    """Resolve every bench host name to the local server."""
    return ["127.0.0.1"]


async def cycle(
    config: FetchConfig, requests: list[FetchRequest], pool: ProcessPoolExecutor
) -> tuple[list[FetchResult], int, float, float]:
    """Fetch all feeds, then parse the changed bodies in the pool; return figures."""
    loop = asyncio.get_running_loop()
    async with build_client(config, resolver=resolve_local) as client:
        started = time.perf_counter()
        results = await fetch_many(client, requests, config.limits)
        fetched = time.perf_counter()
        jobs = [
            loop.run_in_executor(pool, parse_job, r.body, r.url, r.content_type)
            for r in results
            if r.body is not None
        ]
        parsed = await asyncio.gather(*jobs)
    entries = sum(n for n, _ in parsed)
    parse_cpu = sum(cpu for _, cpu in parsed)
    return results, entries, fetched - started, parse_cpu


def parse_rates(body: bytes, seconds: float = 1.0) -> tuple[float, float]:
    """Return entries per second of feedparser alone and of parse_feed, on one core."""
    ours = best_rate(lambda: len(parse_feed(body, url="http://x/").entries), seconds)
    return feedparser_rate(body, seconds), ours


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(sys.stdout, args.feeds, args.entries)
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", f"--feeds={args.feeds}", f"--entries={args.entries}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        config = FetchConfig(
            read_timeout_seconds=30,
            max_connections=args.concurrency,
            limits=FetchLimits(
                policy=AddressPolicy.allowing("127.0.0.1/32"),
                max_concurrency=args.concurrency,
                max_per_host=2,
                total_timeout_seconds=60,
            ),
        )
        requests = initial_requests(port, args.feeds, args.entries)
        with ProcessPoolExecutor(2) as pool:
            pool.submit(parse_job, feed_body(0, 1, 1), "http://x/", None).result()  # warm up
            wall0, cpu0 = time.perf_counter(), time.process_time()
            results, entries, fetch_wall, parse_cpu = asyncio.run(cycle(config, requests, pool))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

            # Second cycle: the store now holds this cycle's validators and hashes.
            again = [
                replace(req, etag=res.etag or req.etag, last_body_hash=res.body_hash)
                for req, res in zip(requests, results, strict=True)
            ]
            cpu1 = time.process_time()
            results2, _, fetch_wall2, _ = asyncio.run(cycle(config, again, pool))
            unchanged_cpu = time.process_time() - cpu1
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()

    errors = [r.error for r in results + results2 if r.error]
    changed = sum(r.body is not None for r in results)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw_rate, our_rate = parse_rates(feed_body(1, args.entries, 1))
    print(f"feeds: {args.feeds} x {args.entries} entries, concurrency {args.concurrency}")
    print(
        f"cycle 1: 304={sum(r.not_modified for r in results)} "
        f"hash-skipped={sum(r.unchanged for r in results)} changed={changed} "
        f"errors={len(errors)}"
    )
    print(f"cycle 1 wall: {wall:.2f} s (fetch {fetch_wall:.2f} s)")
    print(f"cycle 1 CPU: {cpu:.2f} s in the fetching process + {parse_cpu:.2f} s parsing in pool")
    print(f"entries parsed: {entries} ({entries / wall:.0f} per second of cycle wall time)")
    print(f"feedparser raw rate: {raw_rate:.0f} entries/s (one core, same run, defaults)")
    print(f"parse_feed rate: {our_rate:.0f} entries/s (one core, same run)")
    print(
        f"cycle 2 (all unchanged): wall {fetch_wall2:.2f} s, "
        f"CPU {unchanged_cpu * 1000 / args.feeds:.2f} ms per feed"
    )
    print(f"peak memory (RSS of the fetching process): {peak_mib:.0f} MiB")
    if errors:
        print(f"first error: {errors[0]}")


if __name__ == "__main__":
    main()
