"""Soak test: `wirewatch run` for N minutes against ever-changing feeds and a flaky receiver.

    .venv/bin/python bench/soak.py --minutes 10 [--feeds 20] [--database-url URL]

The feed server publishes a new story on every poll of every feed; the receiver fails
20% of requests with a 500. After N minutes the feeds stop changing and the worker gets
time to send its last digest and retries. Then the script checks that every published
story arrived exactly once (by story URL) and every message once (by `webhook-id`), and
that the worker's memory (RSS from /proc) stayed bounded. It prints the figures and exits
1 if a check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.test_replicas import ChangingFeeds, worker_env  # noqa: E402
from tests.servers import Received, Response, serving  # noqa: E402

FAIL_RATE = 0.2
RETRIES = "0,1,2,3,5,8,10,15,20,30"
WATCHLISTS = 4  # each follows every feed and sends to its own hook


class FlakyReceiver:
    """Answers 500 to a fifth of requests; counts what it accepted."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted_ids: Counter[str] = Counter()
        self.accepted_stories: Counter[str] = Counter()
        self.refused = 0

    def __call__(self, request: Received) -> Response:
        with self.lock:
            if self.rng.random() < FAIL_RATE:
                self.refused += 1
                return Response(b"try later", 500)
            self.accepted_ids[request.headers.get("webhook-id", "?")] += 1
            for story in request.json()["stories"]:
                self.accepted_stories[f"{request.path} {story['url']}"] += 1
        return Response(b"", 204)


def write_watchlists(directory: Path, feeds: list[str], hook: str) -> None:
    """`WATCHLISTS` watchlists matching every story, each to `<hook><n>`, digests every minute."""
    directory.mkdir()
    for n in range(WATCHLISTS):
        (directory / f"w{n}.yaml").write_text(
            f"name: w{n}\nquery: '\"Nippon Steel\"'\nfeeds: [{', '.join(feeds)}]\n"
            "schedule: '* * * * *'\ntimezone: UTC\n"
            f"webhooks:\n  - url: {hook}{n}\n    format: json\n    secret: ${{HOOK_SECRET}}\n",
            encoding="utf-8",
        )


def expected(published: set[str]) -> set[str]:
    """Every (hook, story URL) pair that should arrive: each story to each watchlist's hook."""
    return {f"/hook{n} {url}" for n in range(WATCHLISTS) for url in published}


def rss_kib(pid: int) -> int | None:
    """Resident memory of `pid` in KiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, serving() as feed_server, serving() as hooks:
        workdir = Path(tmp)
        feeds = ChangingFeeds(feed_server, args.feeds)
        receiver = FlakyReceiver()
        for n in range(WATCHLISTS):
            hooks.routes[f"/hook{n}"] = receiver
        write_watchlists(workdir / "watchlists", feeds.urls(), hooks.url("/hook"))
        url = args.database_url or f"sqlite:///{workdir / 'soak.db'}"
        env = worker_env(url, workdir, WIREWATCH_RETRY_SCHEDULE=RETRIES)
        env["WIREWATCH_LOG_LEVEL"] = "WARNING"
        log = (workdir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "run"], env=env, cwd=workdir, stdout=log, stderr=log
        )
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        try:
            while time.monotonic() < end and worker.poll() is None:
                kib = rss_kib(worker.pid)
                if kib:
                    samples.append((time.monotonic() - started, kib))
                time.sleep(1)
            feeds.frozen = True
            # the last digest fires at the next minute, then retries take up to ~90 s
            drain_until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(
                minutes=1, seconds=100
            )
            while datetime.now(UTC) < drain_until and worker.poll() is None:
                if expected(feeds.published) <= set(receiver.accepted_stories):
                    break
                kib = rss_kib(worker.pid)
                if kib:
                    samples.append((time.monotonic() - started, kib))
                time.sleep(1)
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
            log.close()
        crashed = worker.returncode not in (0, None)

        published = expected(feeds.published)
        got = receiver.accepted_stories
        missing = published - set(got)
        doubled_stories = [s for s, n in got.items() if n > 1]
        doubled_ids = [m for m, n in receiver.accepted_ids.items() if n > 1]
        warmup = [kib for t, kib in samples if t >= 20] or [kib for _, kib in samples]
        start_kib, end_kib, peak_kib = warmup[0], warmup[-1], max(kib for _, kib in samples)
        bounded = end_kib <= start_kib * 1.5 + 20 * 1024
        polls = sum(len(times) for times in feeds.polls.values())
        print(f"minutes          {args.minutes}  (database {url.split(':')[0]})")
        print(f"feeds            {args.feeds}, polls {polls}")
        print(f"stories          published {len(feeds.published)} x {WATCHLISTS} watchlists = "
              f"{len(published)} expected, delivered {len(got)}, "
              f"missing {len(missing)}, delivered twice {len(doubled_stories)}")  # fmt: skip
        print(f"digests          messages accepted {len(receiver.accepted_ids)}, "
              f"accepted twice {len(doubled_ids)}")  # fmt: skip
        print(f"retries          {receiver.refused} requests refused with 500 and retried")
        print(f"memory (RSS)     start {start_kib / 1024:.1f} MiB (after 20 s), "
              f"end {end_kib / 1024:.1f} MiB, peak {peak_kib / 1024:.1f} MiB, "
              f"bounded {'yes' if bounded else 'NO'}")  # fmt: skip
        quarters = [warmup[min(len(warmup) - 1, len(warmup) * q // 4)] for q in range(5)]
        print("memory by quarter " + " -> ".join(f"{kib / 1024:.1f}" for kib in quarters) + " MiB")
        print(f"worker exit      {worker.returncode}")
        ok = not missing and not doubled_stories and not doubled_ids and bounded and not crashed
        if not ok:
            tail = (workdir / "worker.log").read_text(errors="replace")[-3000:]
            print("FAILED; worker log tail:\n" + tail)
        print("result           " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
