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
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from worker.app import Worker
from worker.delivery.sender import DeliveryReport, deliver_due
from worker.digest.formats.json_format import digest_payload
from worker.digest.render import render
from worker.digest_build import build_digest
from worker.errors import FeedError
from worker.fetch.client import build_client
from worker.fetch.http import FetchRequest, FetchResult, fetch_as_completed
from worker.fetch.politeness import next_poll_at
from worker.ingest import Prepared, StoredStory, ingest_entries, parse_and_prepare
from worker.models import Document, Match, ParsedFeed, Watchlist
from worker.ops import metrics
from worker.parse import parse_feed
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
    done: set[int] = set()
    try:
        with closing(_fetched_in_order(worker, due)) as polled:
            for index, result, parsed, prepared in polled:
                state = due[index]
                report.feeds += 1
                if _is_quiet(result, parsed):
                    quiet.append((state, result))
                    continue
                try:
                    _handle_result(worker, state, result, parsed, prepared, report)
                except Exception as exc:  # one feed must never stop the others
                    log.exception("feed poll failed", extra={"feed": state.url})
                    report.failed += 1
                    report.errors.append(f"{state.url}: {type(exc).__name__}")
                    _release(worker, [state.id])
                done.add(index)
    except BaseException:
        _release(worker, [state.id for index, state in enumerate(due) if index not in done])
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
        log.info(
            "feed polled",
            extra={"feed": state.url, "feed_id": state.id, "status": result.status, "new": 0,
                   "duration_ms": round(result.elapsed_ms, 1)},
        )  # fmt: skip
    with worker.sessions.begin() as session:
        feed_repo.record_unchanged(session, updates, now)
    report.not_modified += len(quiet)


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


Parsed = ParsedFeed | FeedError | None
Polled = tuple[int, FetchResult, Parsed, list[Prepared] | None]
"""A due feed's index, its fetch, its parse, and its entries prepared for storing (or None)."""


def _fetched_in_order(worker: Worker, due: Sequence[FeedState]) -> Generator[Polled, None, None]:
    """Yield `(index, result, parsed, prepared)` for every due feed, in the order of `due`.

    Fetching and parsing run in a thread of their own (an event loop feeding the parser
    processes as each body arrives), so the caller stores one feed while later ones are
    still being fetched and parsed: a cycle takes about the longer of the two, not their
    sum. Storing stays on the caller's thread and in the order of `due`, as before. If
    the caller stops early, the fetches and parses left are cancelled.
    """
    arrived: queue.SimpleQueue[Polled | BaseException | None] = queue.SimpleQueue()
    loops: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
    stop = threading.Event()
    window = ParseWindow(PARSE_AHEAD)

    async def produce() -> None:
        task = asyncio.current_task()
        assert task is not None
        loops.append((asyncio.get_running_loop(), task))
        if not stop.is_set():
            await _fetch_and_parse(worker, due, arrived.put, window)

    def run() -> None:
        try:
            asyncio.run(produce())
        except BaseException as error:  # handed to the caller's thread, raised there
            arrived.put(error)
        else:
            arrived.put(None)

    thread = threading.Thread(target=run, name="wirewatch-fetch", daemon=True)
    thread.start()
    held: dict[int, Polled] = {}
    finished = False
    try:
        for wanted in range(len(due)):
            while wanted not in held:
                item = arrived.get()
                if item is None:
                    finished = True
                    raise RuntimeError("the fetch thread ended before every feed was fetched")
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                held[item[0]] = item
            yield held.pop(wanted)
            if loops:
                with suppress(RuntimeError):  # the loop has just closed
                    loops[0][0].call_soon_threadsafe(window.advance)
    finally:
        stop.set()
        if not finished and thread.is_alive() and loops:
            loop, task = loops[0]
            with suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(task.cancel)
        thread.join()


PARSE_AHEAD = 64
"""How many feeds, counted from the one being stored, may be parsed ahead of storing.

A parsed feed body (with its entries' fingerprints on a first poll) takes far more memory
than its fetch result; without a bound a first cycle over thousands of feeds would hold
them all while storing catches up.
"""


class ParseWindow:
    """Lets the feed at index `i` be parsed once `i < stored + size` (asyncio side).

    The storing thread calls `advance` (through `call_soon_threadsafe`) after each feed
    it takes; the feed it waits for is always inside the window, so this cannot deadlock.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.stored = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def wait_for(self, index: int) -> None:
        """Return when feed `index` may be parsed."""
        if index < self.stored + self.size:
            return
        ready = asyncio.get_running_loop().create_future()
        self._waiting.append((index, ready))
        await ready

    def advance(self) -> None:
        """One more feed was taken for storing (called on the event loop's thread)."""
        self.stored += 1
        limit = self.stored + self.size
        still = []
        for index, ready in self._waiting:
            if index >= limit:
                still.append((index, ready))
            elif not ready.done():
                ready.set_result(None)
        self._waiting = still


async def _fetch_and_parse(
    worker: Worker,
    due: Sequence[FeedState],
    emit: Callable[[Polled], None],
    window: ParseWindow | None = None,
) -> None:
    """Fetch every due feed and parse each changed body as soon as it arrives.

    With a `window`, a body is parsed only once its feed is near enough to storing.
    """
    requests = [
        FetchRequest(
            url=state.url,
            etag=state.etag,
            last_modified=state.last_modified,
            last_body_hash=state.body_hash,
        )
        for state in due
    ]

    async def parse(index: int, result: FetchResult) -> None:
        if window is not None:
            await window.wait_for(index)
        parsed, prepared = await _parse(worker, due[index], result)
        emit((index, result, parsed, prepared))

    async with build_client(worker.fetch_config, resolver=worker.resolver) as client:
        parsing: list[asyncio.Task[None]] = []
        try:
            async for index, result in fetch_as_completed(
                client, requests, worker.fetch_config.limits
            ):
                if result.body is None:  # a 304, an unchanged body or an error
                    emit((index, result, None, None))
                else:
                    parsing.append(asyncio.create_task(parse(index, result)))
            await asyncio.gather(*parsing)
        finally:
            for task in parsing:
                task.cancel()
            await asyncio.gather(*parsing, return_exceptions=True)


async def _parse(
    worker: Worker, state: FeedState, result: FetchResult
) -> tuple[Parsed, list[Prepared] | None]:
    """Parse a changed body in a parser process.

    On a feed's first poll every entry is new, so the parser process also prepares them
    for storing (stable id, canonical URL, fingerprint), which would otherwise be done
    while storing, one feed at a time. Later polls bring a few new entries among many
    known ones, and only the new ones are prepared, when stored.
    """
    if result.error is not None or result.body is None:
        return None, None
    if result.not_modified or result.unchanged:
        return None, None
    options: dict[str, Any] = {
        "url": state.url,
        "content_type": result.content_type,
        "max_entries": worker.settings.max_entries_per_feed,
    }
    pool = worker.parser_pool()
    try:
        if not state.first_poll:
            job = partial(parse_feed, result.body, **options)
            if pool is None:
                return job(), None
            return await asyncio.get_running_loop().run_in_executor(pool, job), None
        ready = partial(parse_and_prepare, result.body, **options)
        if pool is None:
            return ready()
        return await asyncio.get_running_loop().run_in_executor(pool, ready)
    except FeedError as error:
        return error, None


def _handle_result(
    worker: Worker,
    state: FeedState,
    result: FetchResult,
    parsed: Parsed,
    prepared: list[Prepared] | None,
    report: PollReport,
) -> None:
    now = worker.clock()
    metrics.feed_polled(result.status)
    if result.error is not None:
        _record_failure(worker, state, result, result.error, now, report)
        return
    if isinstance(parsed, FeedError):
        _record_failure(worker, state, result, parsed, now, report)
        return
    if result.not_modified or result.unchanged:
        report.not_modified += 1
    when = next_poll_at(
        now,
        worker.poll_interval,
        retry_after_seconds=result.retry_after_seconds,
        cache_floor_seconds=result.cache_floor_seconds,
        ttl_minutes=parsed.ttl_minutes if parsed else None,
        rng=worker.rng,
    )
    with worker.sessions.begin() as session:
        fresh: list[StoredStory] = []
        if parsed is not None:
            fresh, duplicates = ingest_entries(
                session, state.id, parsed.entries, now, worker.near, prepared
            )
            report.stories_new += len(fresh)
            report.stories_duplicate += duplicates
            _queue_matches(worker, session, state, fresh, now, report)
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
    log.info(
        "feed polled",
        extra={
            "feed": state.url,
            "feed_id": state.id,
            "status": result.status,
            "new": len(fresh),
            "duration_ms": round(result.elapsed_ms, 1),
            "warning": parsed.warning if parsed else None,
        },
    )


def _record_failure(
    worker: Worker,
    state: FeedState,
    result: FetchResult,
    error: FeedError,
    now: datetime,
    report: PollReport,
) -> None:
    report.failed += 1
    report.errors.append(f"{state.url}: {error.kind}")
    metrics.fetch_error(error.kind)
    when = next_poll_at(
        now,
        worker.poll_interval,
        consecutive_failures=state.consecutive_failures + 1,
        retry_after_seconds=result.retry_after_seconds,
        rng=worker.rng,
    )
    with worker.sessions.begin() as session:
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
    log.warning(
        "feed failed",
        extra={
            "feed": state.url,
            "feed_id": state.id,
            "kind": error.kind,
            "status": result.status,
            "duration_ms": round(result.elapsed_ms, 1),
            "error": error.message[:300],
        },
    )


def _queue_matches(
    worker: Worker,
    session: Session,
    state: FeedState,
    fresh: Sequence[StoredStory],
    now: datetime,
    report: PollReport,
) -> None:
    matcher = worker.registry.matcher
    lookback = now - timedelta(hours=worker.settings.lookback_hours)
    found: list[tuple[int, Match, str]] = []
    for story in fresh:
        document = Document(
            title=story.title, summary=story.summary, language=story.language, feed_url=state.url
        )
        backlog = state.first_poll and story.published < lookback
        for match in matcher.match(document):
            found.append((story.id, match, outbox.BACKLOG if backlog else outbox.QUEUED))
            if backlog:
                report.matches_backlog += 1
            else:
                report.matches_queued += 1
    outbox.record_matches(session, found, now)


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
