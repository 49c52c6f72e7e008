"""How fast the outbox empties into a local receiver, and how long a due digest waits.

    .venv/bin/python bench/deliver.py [--postgres URL]

For 1, 10 and 100 destinations: a backlog of digests is queued and `deliver` runs until
the outbox is empty (digests delivered per second, each digest counted once per
destination); then digests are queued one at a time and delivered at once, and the delay
from a digest falling due to its delivery is reported (median and p99). The receiver is
a threaded HTTP server on 127.0.0.1 answering 200 at once. Figures only; no asserts.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import select

from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.pipeline import deliver
from worker.store import outbox
from worker.store.db import upgrade
from worker.store.tables import Delivery

SIZES = ((1, 200), (10, 40), (100, 8))  # (destinations, digests in the backlog)
LATENCY_ROUNDS = 30


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()  # headers and body go out in two writes: no Nagle delay between
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops SYNs of parallel senders: 1 s stalls


@contextmanager
def receiver() -> Iterator[int]:
    """A local receiver answering 200; yields its port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def make_worker(database_url: str, directory: Path, port: int, destinations: int) -> Worker:
    """A worker with one watchlist sending JSON to `destinations` paths of the receiver."""
    watchlists = directory / "watchlists"
    watchlists.mkdir()
    hooks = "".join(
        f"  - url: http://127.0.0.1:{port}/hook/{n}\n    format: json\n"
        f"    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
        for n in range(destinations)
    )
    (watchlists / "bench.yaml").write_text(
        'name: bench\nquery: steel\nschedule: "0 8 * * *"\ntimezone: UTC\nwebhooks:\n' + hooks,
        encoding="utf-8",
    )
    settings = load_settings(
        database_url=database_url,
        watchlists_dir=watchlists,
        seeds_dir=directory / "seeds",
        allow_hosts=["127.0.0.1"],
    )
    worker = build_worker(settings, env={})
    upgrade(worker.engine)
    worker.registry.refresh()
    return worker


def queue_digest(worker: Worker, number: int) -> None:
    """Save one digest with a message to every destination, due now."""
    (watchlist,) = worker.registry.watchlists
    body = json.dumps({"type": "wirewatch.digest", "n": number, "stories": []})
    messages = [
        outbox.OutgoingMessage(
            f"msg_{number:05d}_{i:03d}", hook.key, hook.url, "json", 1, 1, body, "application/json"
        )
        for i, hook in enumerate(watchlist.webhooks)
    ]
    with worker.sessions.begin() as session:
        outbox.save_digest(
            session, digest_id=f"dg_{number:05d}", watchlist="bench", content={},
            story_count=0, match_ids=[], messages=messages, now=worker.clock(),
        )  # fmt: skip


def delays(worker: Worker, since: int = 0) -> list[float]:
    """Seconds from falling due to delivery, for deliveries of digests numbered >= since."""
    with worker.sessions() as session:
        rows = session.execute(
            select(Delivery.created_at, Delivery.delivered_at).where(
                Delivery.digest_id >= f"dg_{since:05d}"
            )
        ).all()
    return [(done - due) / timedelta(seconds=1) for due, done in rows if done is not None]


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def run(database_url: str, destinations: int, backlog: int, port: int, directory: Path) -> None:
    """Print throughput and due-to-delivered delay for one size."""
    worker = make_worker(database_url, directory, port, destinations)
    try:
        for number in range(backlog):
            queue_digest(worker, number)
        started = time.perf_counter()
        passes = 0
        while True:
            report = deliver(worker)
            passes += 1
            if report.delivered == 0 or passes > 50:
                break
        elapsed = time.perf_counter() - started
        messages = backlog * destinations
        backlog_delays = delays(worker)
        for number in range(backlog, backlog + LATENCY_ROUNDS):
            queue_digest(worker, number)
            deliver(worker)
        fresh = delays(worker, since=backlog)
        print(
            f"{destinations:>4} destinations: {messages / elapsed:8.1f} digests/s delivered "
            f"({messages} in {elapsed:.2f} s); backlog wait median "
            f"{statistics.median(backlog_delays):.2f} s; "
            f"due->delivered median {statistics.median(fresh) * 1000:.1f} ms, "
            f"p99 {p99(fresh) * 1000:.1f} ms (one digest at a time, {LATENCY_ROUNDS} rounds)"
        )
    finally:
        worker.close()


def main(argv: list[str]) -> int:
    """Run every size on SQLite, and on PostgreSQL when a URL is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL to also measure")
    args = parser.parse_args(argv)
    with receiver() as port:
        for label, url in (("sqlite", None), ("postgresql", args.postgres)):
            if label == "postgresql" and not url:
                continue
            print(f"-- {label}")
            for destinations, backlog in SIZES:
                with tempfile.TemporaryDirectory() as tmp:
                    database = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
                    if url:
                        _reset(url)
                    run(database, destinations, backlog, port, Path(tmp))
    return 0


def _reset(url: str) -> None:
    """Empty the PostgreSQL database between sizes."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
