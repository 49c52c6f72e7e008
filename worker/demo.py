"""`wirewatch demo`: see the whole pipeline work with no internet access.

It serves two sample feeds and a webhook receiver on 127.0.0.1, writes a demo watchlist
to a temporary folder, runs one cycle against a temporary SQLite database (with the
real seed corpus), and prints the digest the receiver got. One sample story repeats a
seed article under a new headline (it is dropped); one wire story is carried by both
feeds (it is listed once, with "also reported by").
"""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from worker.config import Settings

WIRE = (
    "Nippon Steel said on Tuesday it would invest an additional $11 billion in U.S. Steel "
    "plants in Pennsylvania and Indiana by 2028, including a new electric arc furnace, "
    "after the two companies closed their merger under a national security agreement "
    "that gives the U.S. government a golden share."
)


def _items(now: datetime, seed_text: str) -> dict[str, list[tuple[str, str, str, str]]]:
    return {
        "/tokyo.rss": [
            ("tk-1", "Nippon Steel to pour $11 billion more into U.S. Steel mills",
             "https://tokyo.example/nippon-11bn", WIRE),
            ("tk-2", "Minister's rebuke overshadowed Blinken's last Tokyo visit",
             "https://tokyo.example/blinken", seed_text),
            ("tk-3", "Cherry blossom forecast moves earlier",
             "https://tokyo.example/sakura", "Forecasters expect blossoms a week early."),
        ],
        "/markets.rss": [
            ("mk-1", "U.S. Steel owner Nippon Steel commits fresh billions",
             "https://markets.example/us-steel-billions?utm_source=rss",
             "PITTSBURGH (Wire) - " + WIRE + " Reporting by A. Writer; Editing by B. Editor"),
            ("mk-2", "Tariff talks: Japan seeks exemption on autos",
             "https://markets.example/autos",
             "Japanese negotiators asked Washington to lower the 25% tariff on cars, "
             "officials said."),
        ],
    }  # fmt: skip


def _rss(title: str, items: list[tuple[str, str, str, str]], published: datetime) -> bytes:
    body = "".join(
        f"<item><guid>{escape(g)}</guid><title>{escape(t)}</title><link>{escape(u)}</link>"
        f"<description>{escape(s)}</description>"
        f"<pubDate>{format_datetime(published - timedelta(minutes=n))}</pubDate></item>"
        for n, (g, t, u, s) in enumerate(items)
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>demo</description>{body}</channel></rss>"
    ).encode()


def _serve(routes: dict[str, bytes], received: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = routes.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-type", "application/rss+xml")
            self.end_headers()
            self.wfile.write(body or b"")

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_demo(settings: Settings) -> int:
    """Run the demo and print the digest; returns the exit code."""
    from worker import pipeline
    from worker.app import build_worker
    from worker.seeds import iter_seed_files
    from worker.store.db import upgrade
    from worker.store.seed_docs import import_seeds

    now = datetime.now(UTC)
    seeds = list(iter_seed_files(settings.seeds_dir)) if settings.seeds_dir.is_dir() else []
    seed_text = seeds[0].text[:1500] if seeds else WIRE
    received: list[bytes] = []
    feeds = {"/tokyo.rss": "Tokyo Demo Times", "/markets.rss": "Markets Demo Wire"}
    routes: dict[str, bytes] = {}
    server = _serve(routes, received)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for path, items in _items(now, seed_text).items():
        routes[path] = _rss(feeds[path], items, now - timedelta(minutes=30))
    with tempfile.TemporaryDirectory(prefix="wirewatch-demo-") as tmp:
        folder = Path(tmp) / "watchlists"
        folder.mkdir()
        (folder / "demo.yaml").write_text(
            "name: demo-nippon-steel\n"
            'query: \'"Nippon Steel" OR "U.S. Steel" OR tariff*\'\n'
            f"feeds: [{base}/tokyo.rss, {base}/markets.rss]\n"
            'schedule: "0 8 * * *"\n'
            "timezone: Asia/Tokyo\n"
            f"webhooks:\n  - url: {base}/hook\n    format: json\n",
            encoding="utf-8",
        )
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{Path(tmp) / 'demo.db'}",
                "watchlists_dir": folder,
                "allow_hosts": ["127.0.0.1"],
            }
        )
        worker = build_worker(demo_settings)
        try:
            upgrade(worker.engine)
            with worker.sessions.begin() as session:
                import_seeds(session, seeds, worker.near, now)
            report = pipeline.run_once(worker)
        finally:
            worker.close()
            server.shutdown()
    print(
        f"demo: {report.poll.feeds} feeds polled, {report.poll.stories_new} new stories, "
        f"{report.poll.stories_duplicate} duplicates dropped, {len(report.digests)} digest, "
        f"{report.delivery.delivered} delivered to the local receiver:\n"
    )
    for body in received:
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    return 0 if received else 1
