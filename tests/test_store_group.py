"""Changed feeds are stored a group per transaction, and a broken feed costs only itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select

from tests.feedgen import Item, rss
from tests.servers import LocalServer, Received, Response
from worker import pipeline
from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.fetch.http import FetchResult, body_hash
from worker.parse import parse_feed
from worker.pipeline import Changed, PollReport, StoreGroup
from worker.store import feeds as feed_repo
from worker.store.db import upgrade
from worker.store.feeds import FeedState
from worker.store.tables import Feed, Story

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TOPICS = [
    "Dock workers at the northern harbour voted to end a week-long strike over night shifts",
    "A new furnace at the river plant doubled its output of rolled sheet for carmakers",
    "City council approved the budget for the tram line after a long debate about fares",
    "Flood defences along the estuary held through the storm that closed two bridges",
    "The central bank left its rate unchanged and warned that energy prices remain high",
    "Growers expect a record apple harvest after a mild spring and a warm dry summer",
    "A rescue team reached hikers stranded by snow on the ridge above the old mine",
    "Chip designers opened a research lab beside the university's physics department",
    "The port authority ordered six electric cranes to replace its diesel fleet by spring",
]
URLS = [f"https://feeds.example/{name}.xml" for name in ("a", "b", "c")]


@pytest.fixture
def worker(database_url: str, tmp_path: Path) -> Iterator[Worker]:
    """A worker on a fresh database, its clock stopped at NOW."""
    (tmp_path / "w").mkdir()
    settings = load_settings(
        database_url=database_url, watchlists_dir=tmp_path / "w", parse_workers=0
    )
    built = build_worker(settings, clock=lambda: NOW, env={})
    upgrade(built.engine)
    yield built
    built.close()


def claimed(worker: Worker) -> list[FeedState]:
    """The three feeds, created and leased to this worker."""
    with worker.sessions.begin() as session:
        feed_repo.ensure_feeds(session, URLS)
    with worker.sessions.begin() as session:
        due = feed_repo.claim_due_feeds(
            session, URLS, NOW, worker.instance_id, pipeline.feed_lease(worker)
        )
    return sorted(due, key=lambda state: state.url)


def changed(state: FeedState, stories: int = 3) -> Changed:
    """A first poll of `state` that brought `stories` new stories."""
    name = state.url.rsplit("/", 1)[1].removesuffix(".xml")
    first = "abc".index(name) * stories
    items = [
        Item(
            f"{name}-{n}",
            TOPICS[first + n][:40],
            f"https://site.example/{name}/{n}",
            f"{TOPICS[first + n]}, reported from {name}.",
            NOW,
        )
        for n in range(stories)
    ]
    body = rss(name, items)
    result = FetchResult(url=state.url, requested_url=state.url, status=200, body=body,
                         body_hash=body_hash(body))  # fmt: skip
    return Changed(state, result, parse_feed(body, url=state.url, content_type=None), None)


def stories_by_feed(worker: Worker) -> dict[int, int]:
    """How many stories each feed has stored."""
    with worker.sessions() as session:
        rows = session.execute(select(Story.feed_id, func.count()).group_by(Story.feed_id))
        return dict(rows.all())


def watching(
    database_url: str, tmp_path: Path, urls: list[str], query: str, clock: Any = lambda: NOW
) -> Worker:
    """A worker whose one watchlist (`query`) polls `urls` of the local server."""
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x.yaml").write_text(
        f"name: x\nquery: {query}\nschedule: '0 8 * * *'\nfeeds: [{', '.join(urls)}]\n"
    )
    settings = load_settings(database_url=database_url, watchlists_dir=tmp_path / "w",
                             allow_hosts=["127.0.0.1"], parse_workers=0)  # fmt: skip
    return build_worker(settings, clock=clock, env={})


def poll_while_slow(
    worker: Worker, release: threading.Event, wanted: int
) -> tuple[int, PollReport]:
    """Poll in a thread; once `wanted` stories can be read (or after 20 s), let the slow
    feed answer. Return how many stories were readable by then, and the poll's report."""
    reports: list[PollReport] = []
    polling = threading.Thread(target=lambda: reports.append(pipeline.poll_feeds(worker)))
    polling.start()
    deadline = time.monotonic() + 20
    while sum(stories_by_feed(worker).values()) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = sum(stories_by_feed(worker).values())
    release.set()
    polling.join(30)
    return seen, reports[0]


def test_a_feed_that_breaks_storing_costs_only_itself(worker: Worker) -> None:
    """The feed row of `b` is deleted under the poll: `a` and `c`, stored in the same
    transaction, are stored again on their own and kept; `b` is reported as failed."""
    a, b, c = claimed(worker)
    with worker.sessions.begin() as session:
        session.execute(delete(Feed).where(Feed.id == b.id))
    report = PollReport()
    group = StoreGroup(worker, report)
    for state in (a, b, c):
        group.store(changed(state))
    group.commit()
    assert stories_by_feed(worker) == {a.id: 3, c.id: 3}
    assert (report.stories_new, report.failed) == (6, 1)
    assert report.errors[0].startswith(b.url)
    assert group.finished == {a.id, b.id, c.id}
    with worker.sessions() as session:
        assert all(session.get_one(Feed, s.id).last_success_at == NOW for s in (a, c))


def test_a_group_is_visible_at_commit_and_gone_if_abandoned(worker: Worker) -> None:
    """Other connections see a group's stories only once it is committed; an abandoned
    group leaves nothing behind and its feeds are not counted as done."""
    a, b, _ = claimed(worker)
    report = PollReport()
    group = StoreGroup(worker, report)
    group.store(changed(a))
    assert stories_by_feed(worker) == {}
    assert report.stories_new == 0  # reported only once committed
    group.commit()
    assert stories_by_feed(worker) == {a.id: 3}
    assert (report.stories_new, group.finished) == (3, {a.id})
    group.store(changed(b))
    group.abandon()
    assert stories_by_feed(worker) == {a.id: 3}
    assert group.finished == {a.id}


class _Interrupted:
    """Arrivals whose wait for the next feed is interrupted, as by Ctrl-C."""

    def ready(self, within: float = 0.0) -> bool:
        raise KeyboardInterrupt


def test_an_interrupted_wait_for_the_next_feed_keeps_the_open_group(worker: Worker) -> None:
    """Ctrl-C while the group waits for its next feed: what the group stored is committed
    before the interruption goes on, as it was before the wait."""
    a, _, _ = claimed(worker)
    report = PollReport()
    group = StoreGroup(worker, report)
    group.store(changed(a))
    with pytest.raises(KeyboardInterrupt):
        pipeline._next_in_time(_Interrupted(), group)  # type: ignore[arg-type]
    assert stories_by_feed(worker) == {a.id: 3}
    assert group.finished == {a.id}


def test_stories_are_committed_while_a_later_feed_is_still_downloading(
    database_url: str, tmp_path: Path, feed_server: LocalServer
) -> None:
    """Storing holds its transaction open for a slow feed no longer than a group may stay
    open: the first feed's stories can be read while the second is still being served."""
    release = threading.Event()
    fast = rss("fast", [Item("f1", "Fast", "https://x.example/f1", "Fast news.", NOW)])
    slow = rss("slow", [Item("s1", "Slow", "https://x.example/s1", "Slow news.", NOW)])

    def slowly(_: Received) -> Response:
        release.wait(30)
        return Response(slow, 200, {"content-type": "application/rss+xml"})

    feed_server.routes["/fast"] = Response(fast, 200, {"content-type": "application/rss+xml"})
    feed_server.routes["/slow"] = slowly
    urls = [feed_server.url("/fast"), feed_server.url("/slow")]
    worker = watching(database_url, tmp_path, urls, "news")
    try:
        upgrade(worker.engine)
        worker.registry.refresh()
        seen_while_slow, report = poll_while_slow(worker, release, 1)
        assert seen_while_slow == 1
        assert report.stories_new == 2
    finally:
        release.set()
        worker.close()


def test_a_feed_that_comes_soon_after_joins_the_open_group(
    database_url: str, tmp_path: Path, feed_server: LocalServer
) -> None:
    """The second feed answers a little later than the first, well within the time a group
    may stay open: both feeds' stories are committed by one transaction, not two."""
    bodies = {
        name: rss(name, [Item(f"{name}1", name, f"https://x.example/{name}1", TOPICS[n], NOW)])
        for n, name in enumerate(("first", "second"))
    }

    def second(_: Received) -> Response:
        time.sleep(0.3)
        return Response(bodies["second"], 200, {"content-type": "application/rss+xml"})

    feed_server.routes["/first"] = Response(
        bodies["first"], 200, {"content-type": "application/rss+xml"}
    )
    feed_server.routes["/second"] = second
    urls = [feed_server.url("/first"), feed_server.url("/second")]
    worker = watching(database_url, tmp_path, urls, "harbour")
    commits: list[int] = []  # the stories each committed transaction inserted
    inserted = {"stories": 0}

    def count_insert(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO STORIES"):
            inserted["stories"] += len(params) if isinstance(params, list) else 1

    def count_commit(conn: Any) -> None:
        if inserted["stories"]:
            commits.append(inserted["stories"])
        inserted["stories"] = 0

    try:
        upgrade(worker.engine)
        worker.registry.refresh()
        event.listen(worker.engine, "before_cursor_execute", count_insert)
        event.listen(worker.engine, "commit", count_commit)
        assert pipeline.poll_feeds(worker).stories_new == 2
        assert commits == [2]
    finally:
        worker.close()


def test_an_unchanged_feed_between_does_not_keep_the_transaction_open(
    database_url: str, tmp_path: Path, feed_server: LocalServer
) -> None:
    """Second poll: `a` has a new story, `b` answers 304, `c` is slow. The new story of `a`
    can be read while `c` is still being served."""
    release = threading.Event()
    slow = {"on": False}
    items = {
        name: [Item(f"{name}1", f"{name} one", f"https://x.example/{name}1", f"{TOPICS[n]}.", NOW)]
        for n, name in enumerate("abc")
    }
    feed = {"rss": "application/rss+xml"}

    def a(_: Received) -> Response:
        return Response(rss("a", items["a"]), 200, {"content-type": feed["rss"]})

    def b(request: Received) -> Response:
        if request.headers.get("if-none-match") == '"b1"':
            return Response(b"", 304, {"etag": '"b1"'})
        return Response(rss("b", items["b"]), 200, {"content-type": feed["rss"], "etag": '"b1"'})

    def c(_: Received) -> Response:
        if slow["on"]:
            release.wait(30)
        return Response(rss("c", items["c"]), 200, {"content-type": feed["rss"]})

    feed_server.routes.update({"/a": a, "/b": b, "/c": c})
    clock = {"now": NOW}
    urls = [feed_server.url(f"/{name}") for name in "abc"]
    worker = watching(database_url, tmp_path, urls, "harbour", clock=lambda: clock["now"])
    try:
        upgrade(worker.engine)
        worker.registry.refresh()
        assert pipeline.poll_feeds(worker).stories_new == 3
        items["a"].append(Item("a2", "a two", "https://x.example/a2", f"{TOPICS[5]}.", NOW))
        slow["on"] = True
        clock["now"] += timedelta(days=1)
        seen_while_slow, report = poll_while_slow(worker, release, 4)
        assert seen_while_slow == 4
        assert (report.stories_new, report.not_modified) == (1, 2)  # b: 304, c: same body
    finally:
        release.set()
        worker.close()
