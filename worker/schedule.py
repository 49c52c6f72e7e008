"""The long-running service: APScheduler 3 jobs around the same functions `run --once` calls.

Jobs: `tick` every `TICK_SECONDS` (reload watchlists, poll the feeds that are due, send
the deliveries that are due) and one cron job per watchlist that builds its digest in the
watchlist's timezone. Every job: `coalesce=True`, `max_instances=1`, and a misfire grace
time, so a slow cycle or a sleeping laptop never stacks runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from worker import pipeline
from worker.app import Worker

log = logging.getLogger("wirewatch.schedule")

TICK_SECONDS = 30
MISFIRE_GRACE_SECONDS = 300
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}


class Service:
    """The scheduler and its jobs; `start()` blocks until SIGINT or SIGTERM."""

    def __init__(self, worker: Worker, tick_seconds: float = TICK_SECONDS) -> None:
        self.worker = worker
        self.tick_seconds = tick_seconds
        self.scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        self._digest_jobs: dict[str, str] = {}
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Reload watchlists, poll due feeds, send due deliveries."""
        with self._lock:
            try:
                if self.worker.registry.refresh().changed:
                    self.sync_digest_jobs()
                report = pipeline.poll_feeds(self.worker)
                pipeline.deliver(self.worker)
                log.info(
                    "cycle done",
                    extra={"feeds": report.feeds, "new": report.stories_new,
                           "queued": report.matches_queued, "failed": report.failed},
                )  # fmt: skip
            except Exception:
                log.exception("cycle failed; retrying at the next tick")

    def digest(self, name: str) -> None:
        """Build and send one watchlist's digest (its cron fired)."""
        with self._lock:
            try:
                pipeline.build_digests(self.worker, [name])
                pipeline.deliver(self.worker)
            except Exception:
                log.exception("digest failed; its stories stay queued", extra={"watchlist": name})

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

    def start(self) -> None:
        """Run until a signal stops the scheduler."""
        self.worker.registry.refresh()
        self.sync_digest_jobs()
        self.scheduler.add_job(
            self.tick, "interval", seconds=self.tick_seconds, id="tick",
            next_run_time=self.worker.clock(),
        )  # fmt: skip
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)
        log.info("wirewatch running", extra={"watchlists": len(self._digest_jobs)})
        self.scheduler.start()
        log.info("wirewatch stopped")

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        self.scheduler.shutdown(wait=False)
