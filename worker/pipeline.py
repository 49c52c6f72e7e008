"""One cycle of wirewatch, stage by stage::

    poll_feeds     due feeds -> fetch (httpx, concurrent, guarded) -> parse (feedparser, bytes)
                   -> store new stories (exact, then near de-dup) -> match watchlists -> queue
    build_digests  queued matches -> digest (clusters, newest first) -> render per webhook
                   -> outbox (digest, deliveries and the `digested` mark in one transaction)
    deliver        outbox -> signed POSTs, retries with backoff, attempt history

`run_once` runs the three in order; the scheduler runs the same functions on its clock.
A failing feed or delivery is recorded on its row and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.app import Worker
from worker.arrivals import Arrivals, Parsed
from worker.delivery.sender import DeliveryReport, deliver_due
from worker.digest.formats.json_format import digest_payload
from worker.digest.render import render
from worker.digest_build import build_digest
from worker.errors import FeedError
from worker.fetch.client import build_client
from worker.fetch.http import FetchResult
from worker.fetch.politeness import next_poll_at
from worker.ingest import Prepared, StoredStory, ingest_entries
from worker.models import Document, Match, Watchlist
from worker.ops import metrics
from worker.store import feeds as feed_repo
from worker.store import outbox
from worker.store.feeds import FeedState
from worker.store.locks import named_locks

log = logging.getLogger("wirewatch.pipeline")

GONE = "gone"


@dataclass
class PollReport:
    """Counts of one polling pass."""

    feeds: int = 0
    failed: int = 0
    not_modified: int = 0
    stories_new: int = 0
    stories_duplicate: int = 0
    matches_queued: int = 0
    matches_backlog: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class CycleReport:
    """What `run_once` did."""

    poll: PollReport
    digests: list[str]
    delivery: DeliveryReport


def run_once(worker: Worker) -> CycleReport:
    """Poll every due feed, build every pending digest whatever the schedule, deliver."""
    worker.registry.refresh()
    poll = poll_feeds(worker)
    digests = build_digests(worker)
    delivery = deliver(worker)
    return CycleReport(poll=poll, digests=digests, delivery=delivery)


def feed_urls(watchlists: Iterable[Watchlist]) -> list[str]:
    """Every feed URL named by the watchlists, each once."""
    return sorted({url for watchlist in watchlists for url in watchlist.feeds})


def poll_feeds(worker: Worker) -> PollReport:
    """Poll the feeds that are due, store their new stories and queue the matches."""
    report = PollReport()
    now = worker.clock()
    urls = feed_urls(worker.registry.watchlists)
    with worker.sessions.begin() as session:
        feed_repo.ensure_feeds(session, urls)
    with worker.sessions.begin() as session:  # committed at once: other replicas skip these
        due = feed_repo.claim_due_feeds(session, urls, now, worker.instance_id, feed_lease(worker))
    if not due:
        return report
    quiet: list[tuple[FeedState, FetchResult]] = []
    group = StoreGroup(worker, report)
    try:
        with closing(Arrivals(worker, due)) as arrivals:
            for index, result, parsed, prepared in arrivals:
                state = due[index]
                report.feeds += 1
                if _is_quiet(result, parsed):
                    quiet.append((state, result))
                else:
                    group.store(Changed(state, result, parsed, prepared))
                if group.full() or not _next_in_time(arrivals, group):
                    group.commit()
            group.commit()
    except Exception:  # fetching broke off: keep what was stored, give back the rest
        group.commit()
        _release(worker, [state.id for state in due if state.id not in group.finished])
        raise
    except BaseException:
        group.abandon()
        _release(worker, [state.id for state in due if state.id not in group.finished])
        raise
    if quiet:
        try:
            _record_quiet(worker, quiet, report)
        except Exception:
            log.exception("could not record the unchanged feeds; they are polled again")
            _release(worker, [state.id for state, _ in quiet])
    metrics.stories(
        new=report.stories_new, duplicate=report.stories_duplicate, matched=report.matches_queued
    )
    return report


def _is_quiet(result: FetchResult, parsed: Parsed) -> bool:
    """A poll that found nothing new and changes nothing but the feed's timestamps."""
    return (
        result.error is None
        and parsed is None
        and (result.not_modified or result.unchanged)
        and result.permanent_redirect_to is None
    )


def _record_quiet(
    worker: Worker, quiet: Sequence[tuple[FeedState, FetchResult]], report: PollReport
) -> None:
    """Record every unchanged feed of the cycle in one transaction (most feeds, most polls)."""
    now = worker.clock()
    updates = []
    for state, result in quiet:
        metrics.feed_polled(result.status)
        when = next_poll_at(
            now,
            worker.poll_interval,
            retry_after_seconds=result.retry_after_seconds,
            cache_floor_seconds=result.cache_floor_seconds,
            rng=worker.rng,
        )
        updates.append(
            feed_repo.Unchanged(state.id, result.status, result.etag, result.last_modified, when)
        )
    with worker.sessions.begin() as session:
        feed_repo.record_unchanged(session, updates, now)
    for state, result in quiet:
        _log_polled(state, result)
    report.not_modified += len(quiet)


def _log_polled(
    state: FeedState, result: FetchResult, new: int = 0, warning: str | None = None
) -> None:
    """The log line of a feed whose poll is recorded."""
    log.info(
        "feed polled",
        extra={"feed": state.url, "feed_id": state.id, "status": result.status, "new": new,
               "duration_ms": round(result.elapsed_ms, 1), "warning": warning},
    )  # fmt: skip


def _release(worker: Worker, feed_ids: list[int]) -> None:
    """Give back the leases of feeds whose poll broke off (best effort: they also expire)."""
    try:
        with worker.sessions.begin() as session:
            feed_repo.release_feeds(session, feed_ids, worker.instance_id)
    except Exception:
        log.warning("could not release feed leases; they will expire", exc_info=True)


def feed_lease(worker: Worker) -> timedelta:
    """How long a replica holds the feeds it polls: a poll interval, and at least 2 deadlines.

    A replica that dies mid-poll thus never causes a second poll within one interval.
    """
    deadline = timedelta(seconds=2 * worker.settings.request_timeout_seconds + 30)
    return max(worker.poll_interval, deadline)


def _next_in_time(arrivals: Arrivals, group: StoreGroup) -> bool:
    """Whether the next feed comes while `group` may stay open.

    Interrupted while waiting (Ctrl-C, or the fetch thread's own interruption), the group
    is committed first: what was stored before the wait is kept, as it was before waiting.
    """
    try:
        return arrivals.ready(within=group.seconds_left())
    except BaseException:
        group.commit()
        raise


STORE_GROUP_FEEDS = 64
"""Changed feeds stored in one transaction at most.

A commit writes every page the transaction changed, and a feed's new stories change
pages all over the shingle index; feeds stored together share those writes. A group is
committed when it is full, after `STORE_GROUP_SECONDS`, or when the next feed is not
there within the group's time left (a transaction never waits longer than that).
Storing 50,000 new stories (`bench/poll_pipeline.py`), the worker process wrote 857 MiB
with groups of 32 feeds and 475 MiB with 64: once the index is larger than a group's
rows, each commit writes about as many index pages whatever the group's size.
"""
STORE_GROUP_SECONDS = 2.0
"""The longest a group's transaction stays open (other writers wait for it on SQLite).

Long enough for `STORE_GROUP_FEEDS` feeds at the rate one parser process turns out a
first poll's feeds of 50 entries (about 50 a second on two cores).

When parsing is slower than storing, the next feed is nearly never there yet the moment
one is stored. Committing then would write the pages all over the shingle index once
per feed instead of once per group: 3.6 GB written to store 50,000 new stories, against
1.3 GB with waiting, when it was measured (`bench/poll_pipeline.py`, bytes written by the
worker process).
"""


@dataclass(frozen=True, slots=True)
class Changed:
    """A polled feed that has something to record: new content, an error or a new URL."""

    state: FeedState
    result: FetchResult
    parsed: Parsed
    prepared: list[Prepared] | None


@dataclass(slots=True)
class Outcome:
    """What storing one feed did; reported and logged once its transaction is committed."""

    state: FeedState
    result: FetchResult
    error: FeedError | None = None
    warning: str | None = None
    unchanged: bool = False
    new: int = 0
    duplicates: int = 0
    queued: int = 0
    backlog: int = 0


class StoreGroup:
    """Stores changed feeds a few at a time, each group in one transaction.

    If storing a feed or committing fails, the group's transaction is rolled back and its
    feeds are stored again one transaction each, so a broken feed costs only itself.
    `finished` holds the ids of the feeds whose poll is recorded (or given up, and its
    lease released).
    """

    def __init__(self, worker: Worker, report: PollReport) -> None:
        self._worker = worker
        self._report = report
        self._session: Session | None = None
        self._opened = 0.0
        self._held: list[tuple[Changed, Outcome]] = []
        self.finished: set[int] = set()

    def store(self, item: Changed) -> None:
        """Store one feed in the group's transaction (opened if need be)."""
        if self._session is None:
            self._session = self._worker.sessions()
            self._session.begin()
            self._opened = time.monotonic()
        try:
            outcome = store_feed(self._worker, self._session, item)
        except Exception:
            items = [changed for changed, _ in self._held] + [item]
            self.abandon()
            self._store_alone(items)
            return
        self._held.append((item, outcome))

    def seconds_left(self) -> float:
        """How long the open group may still wait for its next feed (0 when none is open)."""
        if self._session is None:
            return 0.0
        return max(0.0, STORE_GROUP_SECONDS - (time.monotonic() - self._opened))

    def full(self) -> bool:
        """Whether the group should be committed now, whatever comes next."""
        return (
            len(self._held) >= STORE_GROUP_FEEDS
            or time.monotonic() - self._opened >= STORE_GROUP_SECONDS
        )

    def commit(self) -> None:
        """Commit the group, then report and log its feeds."""
        if self._session is None:
            return
        session, held = self._session, self._held
        self._session, self._held = None, []
        try:
            session.commit()
        except Exception:
            log.warning("could not commit a group of feeds; storing them one by one",
                        exc_info=True)  # fmt: skip
            session.close()
            self._store_alone([item for item, _ in held])
            return
        except BaseException:  # interrupted: roll back, and the caller releases the feeds
            session.close()
            raise
        session.close()
        for _, outcome in held:
            self._report_outcome(outcome)

    def abandon(self) -> None:
        """Roll back the group's transaction (its feeds are not `finished`)."""
        session, self._session, self._held = self._session, None, []
        if session is not None:
            with suppress(Exception):  # the connection may be gone: nothing to keep anyway
                session.rollback()
            session.close()

    def _store_alone(self, items: Sequence[Changed]) -> None:
        """Store each feed in a transaction of its own (after a group failed)."""
        for item in items:
            state = item.state
            try:
                with self._worker.sessions.begin() as session:
                    outcome = store_feed(self._worker, session, item)
            except Exception as exc:  # one feed must never stop the others
                metrics.feed_polled(item.result.status)
                log.exception("feed poll failed", extra={"feed": state.url})
                self._report.failed += 1
                self._report.errors.append(f"{state.url}: {type(exc).__name__}")
                _release(self._worker, [state.id])
                self.finished.add(state.id)
                continue
            self._report_outcome(outcome)

    def _report_outcome(self, outcome: Outcome) -> None:
        report, state, result = self._report, outcome.state, outcome.result
        self.finished.add(state.id)
        metrics.feed_polled(result.status)
        if outcome.error is not None:
            error = outcome.error
            report.failed += 1
            report.errors.append(f"{state.url}: {error.kind}")
            metrics.fetch_error(error.kind)
            log.warning(
                "feed failed",
                extra={"feed": state.url, "feed_id": state.id, "kind": error.kind,
                       "status": result.status, "duration_ms": round(result.elapsed_ms, 1),
                       "error": error.message[:300]},
            )  # fmt: skip
            return
        report.not_modified += outcome.unchanged
        report.stories_new += outcome.new
        report.stories_duplicate += outcome.duplicates
        report.matches_queued += outcome.queued
        report.matches_backlog += outcome.backlog
        _log_polled(state, result, outcome.new, outcome.warning)


def store_feed(worker: Worker, session: Session, item: Changed) -> Outcome:
    """Record one polled feed in `session`: its error, or its new stories and matches."""
    state, result, parsed = item.state, item.result, item.parsed
    now = worker.clock()
    error = result.error if result.error is not None else parsed
    if isinstance(error, FeedError):
        when = next_poll_at(
            now,
            worker.poll_interval,
            consecutive_failures=state.consecutive_failures + 1,
            retry_after_seconds=result.retry_after_seconds,
            rng=worker.rng,
        )
        feed_repo.record_failure(
            session,
            state.id,
            now,
            status=result.status,
            kind=error.kind,
            message=error.message,
            next_poll_at=when,
            disable=error.kind == GONE,
        )
        return Outcome(state, result, error=error)
    assert not isinstance(parsed, FeedError)
    outcome = Outcome(
        state,
        result,
        warning=parsed.warning if parsed else None,
        unchanged=result.not_modified or result.unchanged,
    )
    when = next_poll_at(
        now,
        worker.poll_interval,
        retry_after_seconds=result.retry_after_seconds,
        cache_floor_seconds=result.cache_floor_seconds,
        ttl_minutes=parsed.ttl_minutes if parsed else None,
        rng=worker.rng,
    )
    if parsed is not None:
        fresh, outcome.duplicates = ingest_entries(
            session, state.id, parsed.entries, now, worker.near, item.prepared
        )
        outcome.new = len(fresh)
        outcome.queued, outcome.backlog = _queue_matches(worker, session, state, fresh, now)
    feed_repo.record_success(
        session,
        state.id,
        now,
        status=result.status,
        title=parsed.title if parsed else None,
        etag=result.etag,
        last_modified=result.last_modified,
        body_hash=result.body_hash,
        next_poll_at=when,
        new_url=result.permanent_redirect_to,
    )
    return outcome


def _queue_matches(
    worker: Worker,
    session: Session,
    state: FeedState,
    fresh: Sequence[StoredStory],
    now: datetime,
) -> tuple[int, int]:
    """Record the watchlist matches of the new stories; return (queued, backlog)."""
    matcher = worker.registry.matcher
    lookback = now - timedelta(hours=worker.settings.lookback_hours)
    found: list[tuple[int, Match, str]] = []
    queued = backlog_count = 0
    for story in fresh:
        document = Document(
            title=story.title, summary=story.summary, language=story.language, feed_url=state.url
        )
        backlog = state.first_poll and story.published < lookback
        for match in matcher.match(document):
            found.append((story.id, match, outbox.BACKLOG if backlog else outbox.QUEUED))
            if backlog:
                backlog_count += 1
            else:
                queued += 1
    outbox.record_matches(session, found, now)
    return queued, backlog_count


def build_digests(worker: Worker, names: Iterable[str] | None = None) -> list[str]:
    """Build a digest for each named watchlist (default: all) with queued stories."""
    watchlists = {w.name: w for w in worker.registry.watchlists}
    wanted = set(watchlists) if names is None else set(names) & set(watchlists)
    built: list[str] = []
    for name in sorted(wanted):
        digest_id = build_digest_for(worker, watchlists[name])
        if digest_id:
            built.append(digest_id)
    return built


def build_digest_for(worker: Worker, watchlist: Watchlist) -> str | None:
    """Build and save one watchlist's digest; None when nothing is queued."""
    now = worker.clock()
    with worker.sessions.begin() as session:
        match_ids, items = outbox.queued_items(session, watchlist.name)
        if not match_ids and not worker.settings.send_empty_digests:
            return None
        notices = feed_repo.failure_notices(
            session,
            watchlist.feeds,
            now,
            timedelta(hours=worker.settings.feed_failure_notice_hours),
        )
        digest_id = f"dg_{time.time_ns():016x}{uuid.uuid4().hex[:16]}"  # sorts by creation
        digest = build_digest(digest_id, watchlist.name, watchlist.timezone, items, now, notices)
        messages = [
            outbox.OutgoingMessage(
                delivery_id=f"msg_{uuid.uuid4().hex}",
                destination=hook.key,
                url=hook.url,
                format=hook.format,
                part=message.part,
                parts=message.parts,
                body=message.body.decode("utf-8"),
                content_type=message.content_type,
            )
            for hook in watchlist.webhooks
            for message in render(digest, hook.format)
        ]
        outbox.save_digest(
            session,
            digest_id=digest_id,
            watchlist=watchlist.name,
            content=digest_payload(digest),
            story_count=len(digest.stories),
            match_ids=match_ids,
            messages=messages,
            now=now,
        )
    log.info(
        "digest built",
        extra={"watchlist": watchlist.name, "digest_id": digest_id,
               "stories": len(digest.stories), "messages": len(messages)},
    )  # fmt: skip
    return digest_id


def deliver(worker: Worker) -> DeliveryReport:
    """Send every delivery that is due."""
    return asyncio.run(_deliver(worker))


async def _deliver(worker: Worker) -> DeliveryReport:
    with named_locks(worker.engine) as locks:
        async with build_client(worker.fetch_config, resolver=worker.resolver) as client:
            return await deliver_due(
                worker.sessions,
                client,
                secrets_for=worker.secrets_for,
                clock=worker.clock,
                schedule=worker.settings.retry_schedule,
                timeout=worker.settings.delivery_timeout_seconds,
                rng=worker.rng,
                address_policy=worker.policy,
                resolver=worker.resolver,
                locks=locks,
            )
