"""Fetched and parsed feeds, handed to the storing thread in the order they were due.

Fetching and parsing run in a thread of their own (an event loop feeding the parser
processes as each body arrives), so the storing thread stores one feed while later ones
are still being fetched and parsed: a cycle takes about the longer of the two, not their
sum. `Arrivals` yields the feeds in the order of `due`, and says whether the next one is
already there, or comes within a given time (`ready`): then the storing thread can hold
its transaction open for one more feed instead of committing.
"""

from __future__ import annotations

import asyncio
import heapq
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from worker.errors import FeedError
from worker.fetch.client import build_client
from worker.fetch.http import FetchRequest, FetchResult, fetch_as_completed
from worker.ingest import Prepared, parse_and_prepare
from worker.models import ParsedFeed
from worker.parse import parse_feed
from worker.store.feeds import FeedState

if TYPE_CHECKING:
    from worker.app import Worker

T = TypeVar("T")
Parsed = ParsedFeed | FeedError | None
Polled = tuple[int, FetchResult, Parsed, list[Prepared] | None]
"""A due feed's index, its fetch, its parse, and its entries prepared for storing (or None)."""

PARSE_AHEAD = 64
"""How many feeds, counted from the one being stored, may be parsed ahead of storing.

A parsed feed body (with its entries' fingerprints on a first poll) takes far more memory
than its fetch result; without a bound a first cycle over thousands of feeds would hold
them all while storing catches up.
"""


PARSE_QUEUED = 2
"""Bodies handed to the parser processes on top of one per process (two in all, not per
process), so that a process that finishes a body finds the next one already there."""


class Arrivals:
    """Every due feed's `Polled`, in the order of `due`, from a fetching thread.

    Iterate once; `close` (also on leaving early) cancels the fetches and parses left.
    """

    def __init__(self, worker: Worker, due: Sequence[FeedState]) -> None:
        self._count = len(due)
        self._arrived: queue.SimpleQueue[Polled | BaseException | None] = queue.SimpleQueue()
        self._held: dict[int, Polled] = {}
        self._next = 0
        self._finished = False
        self._stop = threading.Event()
        self._window = ParseWindow(PARSE_AHEAD)
        self._loop: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(worker, due), name="wirewatch-fetch", daemon=True
        )
        self._thread.start()

    def _run(self, worker: Worker, due: Sequence[FeedState]) -> None:
        async def produce() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._loop = (asyncio.get_running_loop(), task)
            self._started.set()
            if not self._stop.is_set():
                await fetch_and_parse(worker, due, self._arrived.put, self._window)

        try:
            asyncio.run(produce())
        except BaseException as error:  # handed to the storing thread, raised there
            self._arrived.put(error)
        else:
            self._arrived.put(None)
        finally:
            self._started.set()

    def __iter__(self) -> Iterator[Polled]:
        while self._next < self._count:
            while self._next not in self._held:
                self._take(self._arrived.get())
            item = self._held.pop(self._next)
            self._next += 1
            if self._loop is not None:  # set before the first feed arrives
                with suppress(RuntimeError):  # the loop has just closed
                    self._loop[0].call_soon_threadsafe(self._window.advance)
            yield item

    def ready(self, within: float = 0.0) -> bool:
        """Whether the next feed (if any) can be taken, waiting up to `within` seconds."""
        if self._next >= self._count:
            return True
        deadline = time.monotonic() + within
        while self._next not in self._held:
            left = deadline - time.monotonic()
            try:
                item = self._arrived.get(timeout=left) if left > 0 else self._arrived.get_nowait()
            except queue.Empty:
                return False
            self._take(item)
        return True

    def _take(self, item: Polled | BaseException | None) -> None:
        if item is None:
            self._finished = True
            raise RuntimeError("the fetch thread ended before every feed was fetched")
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        self._held[item[0]] = item

    def close(self) -> None:
        """Stop fetching and parsing (if not done) and wait for the thread."""
        self._stop.set()
        if not self._finished and self._thread.is_alive():
            self._started.wait()
            if self._loop is not None:
                loop, task = self._loop
                with suppress(RuntimeError):  # the loop has just closed
                    loop.call_soon_threadsafe(task.cancel)
        self._thread.join()


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


class ParseTurns:
    """At most `size` bodies in the parser processes at once; the feed due first goes first.

    Bodies arrive in whatever order their servers answer, and the storing thread takes
    them in the order they were due. Handed to the pool as they arrive, a body that came
    late waits behind every later feed already queued, and storing waits for it. Here
    the waiting body due first takes each free turn.
    """

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def acquire(self, index: int) -> None:
        """Return when feed `index` may be handed to the parser processes."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (index, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a turn it will not use
                self.release()
            raise

    def release(self) -> None:
        """A body is parsed: hand its turn to the waiting feed due first."""
        while self._waiting:
            _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


async def fetch_and_parse(
    worker: Worker,
    due: Sequence[FeedState],
    emit: Callable[[Polled], None],
    window: ParseWindow | None = None,
) -> None:
    """Fetch every due feed and parse each changed body as soon as it arrives.

    With a `window`, a body is parsed only once its feed is near enough to storing; when
    several wait for a parser process, the one due first goes first (`ParseTurns`).
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

    turns = ParseTurns(max(worker.settings.parse_workers, 1) + PARSE_QUEUED)

    async def parse(index: int, result: FetchResult) -> None:
        if window is not None:
            await window.wait_for(index)
        await turns.acquire(index)
        try:
            parsed, prepared = await parse_body(worker, due[index], result)
        finally:
            turns.release()
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


async def parse_body(
    worker: Worker, state: FeedState, result: FetchResult
) -> tuple[Parsed, list[Prepared] | None]:
    """Parse a changed body (`result.body`, never None) in a parser process.

    On a feed's first poll every entry is new, so the parser process also prepares them
    for storing (stable id, canonical URL, fingerprint), which would otherwise be done
    while storing, one feed at a time. Later polls bring a few new entries among many
    known ones, and only the new ones are prepared, when stored.
    """
    assert result.body is not None, "only changed bodies are parsed"
    options: dict[str, Any] = {
        "url": state.url,
        "content_type": result.content_type,
        "max_entries": worker.settings.max_entries_per_feed,
    }
    pool = worker.parser_pool()
    try:
        if not state.first_poll:
            return await _in_pool(pool, partial(parse_feed, result.body, **options)), None
        return await _in_pool(pool, partial(parse_and_prepare, result.body, **options))
    except FeedError as error:
        return error, None


async def _in_pool(pool: Executor | None, job: Callable[[], T]) -> T:
    """`job()` in a parser process, or here when there is no pool."""
    if pool is None:
        return job()
    return await asyncio.get_running_loop().run_in_executor(pool, job)
