"""The health endpoint: `/healthz`, `/readyz` and `/metrics` on one small HTTP server.

- `/healthz`: 200 while the process is alive (the server thread answers).
- `/readyz`: 200 when the database answers, the scheduler runs and the last cycle
  finished recently; 503 with the reasons otherwise (`readiness` decides, purely).
- `/metrics`: the Prometheus text format of `worker.ops.metrics.REGISTRY`.

The server runs in a daemon thread (`HealthServer.start`), so it never keeps the
process alive, and binds to `0.0.0.0` so a container's health check can reach it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from worker.ops import metrics

log = logging.getLogger("wirewatch.health")


@dataclass(frozen=True, slots=True)
class Probe:
    """What readiness looks at, read at the moment of the request."""

    database_ok: bool
    scheduler_running: bool
    last_cycle_at: datetime | None
    started_at: datetime


def readiness(probe: Probe, now: datetime, max_age: timedelta) -> list[str]:
    """The reasons the worker is not ready (empty: ready).

    Before its first cycle a worker counts as ready for `max_age` after it started.
    """
    problems = []
    if not probe.database_ok:
        problems.append("database unreachable")
    if not probe.scheduler_running:
        problems.append("scheduler not running")
    last = probe.last_cycle_at or probe.started_at
    if now - last > max_age:
        problems.append(f"no cycle finished since {last.isoformat(timespec='seconds')}")
    return problems


def database_ok(engine: Engine) -> bool:
    """True when the database answers `SELECT 1`."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        log.warning("readiness: database check failed", exc_info=True)
        return False
    return True


class HealthServer:
    """A threaded HTTP server answering the three paths; `port=0` picks a free port."""

    def __init__(
        self,
        port: int,
        probe: Callable[[], Probe],
        clock: Callable[[], datetime],
        max_age: timedelta,
        host: str = "0.0.0.0",  # a container's health check must reach it
    ) -> None:
        server = self
        self.probe = probe
        self.clock = clock
        self.max_age = max_age

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, content_type, body = server.answer(self.path.split("?")[0])
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of `path`."""
        if path == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, metrics.exposition()
        if path == "/readyz":
            problems = readiness(self.probe(), self.clock(), self.max_age)
            body = json.dumps({"ready": not problems, "problems": problems}).encode()
            return (503 if problems else 200), "application/json", body + b"\n"
        return 404, "text/plain; charset=utf-8", b"not found\n"

    def start(self) -> HealthServer:
        """Serve in a daemon thread."""
        self._thread.start()
        log.info("health endpoint listening", extra={"port": self.port})
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
