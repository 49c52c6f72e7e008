"""The long-running service: APScheduler 3 jobs around the same functions `run --once` calls.

Jobs: `tick` every `tick_seconds` (reload watchlists, poll the feeds that are due, send
the deliveries that are due), one cron job per watchlist that builds its digest in the
watchlist's timezone, and a daily `prune` (retention). Every job: `coalesce=True`,
`max_instances=1`, and a misfire grace time, so a slow cycle or a sleeping laptop never
stacks runs.

Replicas: feeds are shared through leases on their rows (`pipeline.poll_feeds`); a
digest is built under the named lease `digest:<watchlist>`, each destination is sent to
under the advisory lock `deliver:<destination>` (`worker.store.locks`: no message goes
out twice at once, and the lock dies with its holder), and the prune under `prune`, so
that each happens once however many replicas run.

Shutdown: SIGTERM or SIGINT stops the scheduler from starting new jobs; the job in
flight gets `shutdown_timeout` seconds to finish, then this process's leases are given
back so that the next start (or another replica) picks up at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from worker import pipeline
from worker.app import Worker
from worker.delivery.sender import DeliveryReport
from worker.log import redact_watchlists
from worker.ops import metrics
from worker.ops.health import HealthServer, Probe, database_ok
from worker.store import leases
from worker.store.retention import RetentionPolicy, prune

log = logging.getLogger("wirewatch.schedule")

TICK_SECONDS = 30
MISFIRE_GRACE_SECONDS = 300
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
DIGEST_LEASE = timedelta(minutes=10)
PRUNE_LEASE = timedelta(hours=1)
PRUNE_HOUR_UTC = 3


def retention_policy(worker: Worker) -> RetentionPolicy:
    """The retention settings as a value."""
    settings = worker.settings
    return RetentionPolicy(
        stories_days=settings.retain_stories_days,
        matches_days=settings.retain_matches_days,
        deliveries_days=settings.retain_deliveries_days,
    )


def record_delivery(report: DeliveryReport) -> None:
    """Count a delivery pass in the metrics."""
    metrics.deliveries(
        sent=report.delivered, retrying=report.retrying, failed=report.failed,
        dead=report.dead, latencies_ms=report.latencies_ms,
    )  # fmt: skip


class Service:
    """The scheduler and its jobs; `start()` blocks until SIGINT, SIGTERM or `stop()`."""

    def __init__(
        self,
        worker: Worker,
        tick_seconds: float | None = None,
        shutdown_timeout: float | None = None,
    ) -> None:
        self.worker = worker
        self.tick_seconds = tick_seconds or worker.settings.tick_seconds or TICK_SECONDS
        self.shutdown_timeout = (
            worker.settings.shutdown_timeout_seconds if shutdown_timeout is None
            else shutdown_timeout
        )  # fmt: skip
        self.scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        self._digest_jobs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.started_at: datetime = worker.clock()
        self.last_cycle_at: datetime | None = None
        self.health: HealthServer | None = None

    def tick(self) -> None:
        """Reload watchlists, poll due feeds, send due deliveries."""
        with self._lock:
            if self._stopping.is_set():
                return
            started = time.monotonic()
            try:
                if self.worker.registry.refresh().changed:
                    redact_watchlists(self.worker.registry.watchlists)
                    self.sync_digest_jobs()
                report = pipeline.poll_feeds(self.worker)
                self._deliver()
                self.last_cycle_at = self.worker.clock()
                metrics.cycle_done(time.monotonic() - started, time.time())
                log.info(
                    "cycle done",
                    extra={"feeds": report.feeds, "new": report.stories_new,
                           "queued": report.matches_queued, "failed": report.failed,
                           "duration_ms": round((time.monotonic() - started) * 1000, 1)},
                )  # fmt: skip
            except Exception:
                log.exception("cycle failed; retrying at the next tick")

    def digest(self, name: str) -> None:
        """Build and send one watchlist's digest (its cron fired), once across replicas."""
        self._leased(f"digest:{name}", DIGEST_LEASE, lambda: self._build(name))

    def _build(self, name: str) -> None:
        built = pipeline.build_digests(self.worker, [name])
        metrics.digests_built(len(built))
        self._deliver()

    def _deliver(self) -> None:
        """Send the due deliveries (each destination under its own lease: see the sender)."""
        record_delivery(pipeline.deliver(self.worker))

    def prune(self) -> None:
        """Delete what retention says is too old (daily), once across replicas."""

        def run() -> None:
            report = prune(self.worker.sessions, self.worker.clock(), retention_policy(self.worker))
            for table, count in report.as_dict().items():
                metrics.pruned(table, count)
            log.info("pruned", extra=report.as_dict())

        self._leased("prune", PRUNE_LEASE, run)

    def _leased(self, name: str, ttl: timedelta, work: Callable[[], None]) -> None:
        owner = self.worker.instance_id
        with self._lock:
            if self._stopping.is_set():
                return
            try:
                with self.worker.sessions.begin() as session:
                    if not leases.claim(session, name, owner, ttl, self.worker.clock()):
                        log.info("another replica holds the lease", extra={"lease": name})
                        return
                try:
                    work()
                finally:
                    with self.worker.sessions.begin() as session:
                        leases.release(session, name, owner)
            except Exception:
                log.exception("job failed; its work stays for the next run", extra={"job": name})

    def sync_digest_jobs(self) -> None:
        """Make the cron jobs match the current watchlists (hot reload)."""
        wanted = {w.name: (w.schedule, w.timezone) for w in self.worker.registry.watchlists}
        for name in list(self._digest_jobs):
            if self._digest_jobs[name] != repr(wanted.get(name)):
                self.scheduler.remove_job(f"digest:{name}")
                del self._digest_jobs[name]
        for name, (cron, tz) in wanted.items():
            if name in self._digest_jobs:
                continue
            self.scheduler.add_job(
                self.digest,
                CronTrigger.from_crontab(cron, timezone=tz),
                args=[name],
                id=f"digest:{name}",
                replace_existing=True,
            )
            self._digest_jobs[name] = repr((cron, tz))

    def probe(self) -> Probe:
        """What `/readyz` looks at, now."""
        return Probe(
            database_ok=database_ok(self.worker.engine),
            scheduler_running=self.scheduler.running and not self._stopping.is_set(),
            last_cycle_at=self.last_cycle_at,
            started_at=self.started_at,
        )

    def start_health(self, port: int) -> HealthServer:
        """Serve `/healthz`, `/readyz` and `/metrics` on `port` (0: any free port)."""
        max_age = timedelta(seconds=max(3 * self.tick_seconds, 120))
        self.health = HealthServer(port, self.probe, self.worker.clock, max_age).start()
        return self.health

    def start(self, install_signals: bool = True) -> bool:
        """Run until stopped; True when in-flight work finished within the timeout."""
        self.worker.registry.refresh()
        redact_watchlists(self.worker.registry.watchlists)
        self.sync_digest_jobs()
        self.worker.warm_parsers()
        self.scheduler.add_job(
            self.tick, "interval", seconds=self.tick_seconds, id="tick",
            next_run_time=self.worker.clock(),
        )  # fmt: skip
        self.scheduler.add_job(self.prune, CronTrigger(hour=PRUNE_HOUR_UTC), id="prune")
        if install_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_signal)
        if self.worker.settings.health_port and self.health is None:
            self.start_health(self.worker.settings.health_port)
        self.scheduler.start()
        log.info("wirewatch running", extra={"watchlists": len(self._digest_jobs)})
        self._stopping.wait()
        return self._shutdown()

    def stop(self) -> None:
        """Ask the service to stop (what a signal does)."""
        self._stopping.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        self.stop()

    def _shutdown(self) -> bool:
        self.scheduler.shutdown(wait=False)
        finished = self._lock.acquire(timeout=self.shutdown_timeout)
        if not finished:
            log.warning(
                "in-flight work did not finish in time; its leases will expire",
                extra={"timeout_seconds": self.shutdown_timeout},
            )
        try:
            with self.worker.sessions.begin() as session:
                released = leases.release_all(session, self.worker.instance_id)
            log.info("leases released", extra={"count": released})
        except Exception:
            log.warning("could not release leases; they will expire", exc_info=True)
        finally:
            if finished:
                self._lock.release()
        if self.health is not None:
            self.health.stop()
        log.info("wirewatch stopped")
        return finished
