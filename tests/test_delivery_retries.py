"""Retries against a real local receiver that fails on purpose, on SQLite and PostgreSQL.

The worker runs with a fake clock and a short schedule (`[0, 1, 1]` seconds), so a test
moves time forward instead of sleeping; the receiver is a real HTTP server in a thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.servers import LocalServer, Received, Response
from worker.app import Worker, build_worker
from worker.config import load_settings
from worker.pipeline import deliver
from worker.store import outbox
from worker.store.db import upgrade
from worker.store.tables import Delivery, DeliveryAttempt, Destination

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


@dataclass
class Sink:
    """A receiver route that answers from a script, then 200, and de-duplicates on id.

    `script` answers the first requests in turn (a `Response`, or an exception class to
    drop the connection without answering); later requests get 200. `accepted` lists
    the webhook-ids answered 2xx, each once, in the order they were first accepted.
    """

    script: list[Response | type[Exception]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Received) -> Response:
        with self.lock:
            self.seen.append(request.headers.get("webhook-id", ""))
            step = self.script.pop(0) if self.script else Response(b"ok", 200)
        if isinstance(step, type):
            raise step("receiver dropped the connection")
        if 200 <= step.status < 300 and not step.delay:
            with self.lock:
                msg_id = request.headers.get("webhook-id", "")
                if msg_id not in self.accepted:
                    self.accepted.append(msg_id)
        return step


def write_watchlist(
    directory: Path, name: str, hooks: Sequence[tuple[str, str]], feeds: Sequence[str] = ()
) -> None:
    """A watchlist file whose webhooks are (url, format) pairs, JSON ones signed."""
    directory.mkdir(exist_ok=True)
    lines = [f"name: {name}", "query: steel", 'schedule: "0 8 * * *"', "timezone: UTC"]
    if feeds:
        lines.append(f"feeds: {json.dumps(list(feeds))}")
    lines.append("webhooks:")
    for url, fmt in hooks:
        lines += [f"  - url: {json.dumps(url)}", f"    format: {fmt}"]
        if fmt == "json":
            lines += [f"    secret: {SECRET}"]
    (directory / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_worker(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    *,
    allow_local: bool = True,
    schedule: Sequence[float] = (0, 1, 1),
    timeout: float = 2.0,
    send_empty: bool = False,
) -> Worker:
    """A worker on a migrated database, watching `tmp_path/watchlists`."""
    settings = load_settings(
        database_url=database_url,
        watchlists_dir=tmp_path / "watchlists",
        seeds_dir=tmp_path / "seeds",
        allow_hosts=["127.0.0.1"] if allow_local else [],
        retry_schedule=list(schedule),
        delivery_timeout_seconds=timeout,
        send_empty_digests=send_empty,
    )
    worker = build_worker(settings, clock=clock, env={})
    upgrade(worker.engine)
    worker.registry.refresh()
    return worker


@pytest.fixture
def worker_for(
    database_url: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[Worker, FakeClock]]]:
    """Build workers on the test database; closed afterwards."""
    made: list[Worker] = []

    def build(**options: object) -> tuple[Worker, FakeClock]:
        clock = FakeClock()
        worker = make_worker(database_url, tmp_path, clock, **options)  # type: ignore[arg-type]
        made.append(worker)
        return worker, clock

    yield build
    for worker in made:
        worker.close()


def seed(worker: Worker, digests: int, *, watchlist: str = "steel") -> list[list[str]]:
    """Queue `digests` one-message digests to every webhook; the ids per destination, in order."""
    hooks = next(w for w in worker.registry.watchlists if w.name == watchlist).webhooks
    ids: list[list[str]] = [[] for _ in hooks]
    base = worker.clock()
    for number in range(digests):
        digest_id = f"dg_{number:04d}_{watchlist}"
        messages = []
        for index, hook in enumerate(hooks):
            body = json.dumps({"title": f"digest {number}", "body": f"story {number}"})
            delivery_id = f"msg_{number:04d}_{index}_{watchlist}"
            ids[index].append(delivery_id)
            messages.append(
                outbox.OutgoingMessage(
                    delivery_id, hook.key, hook.url, hook.format, 1, 1, body, "application/json"
                )
            )
        with worker.sessions.begin() as session:
            outbox.save_digest(
                session,
                digest_id=digest_id,
                watchlist=watchlist,
                content={"n": number},
                story_count=1,
                match_ids=[],
                messages=messages,
                now=base - timedelta(seconds=digests - number),
            )
    return ids


def drain(worker: Worker, clock: FakeClock, *, step: float = 2.0, passes: int = 20) -> None:
    """Deliver, moving the clock on, until nothing is pending."""
    for _ in range(passes):
        deliver(worker)
        if not pending(worker):
            return
        clock.advance(step)
    raise AssertionError("deliveries still pending")


def pending(worker: Worker) -> list[Delivery]:
    """Deliveries not settled yet."""
    with worker.sessions() as session:
        return list(session.scalars(select(Delivery).where(Delivery.status == outbox.PENDING)))


def statuses(worker: Worker) -> dict[str, str]:
    """The status of every delivery, by id."""
    with worker.sessions() as session:
        return {d.id: d.status for d in session.scalars(select(Delivery))}


def test_server_errors_then_recovery_deliver_each_once_in_order(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """After two 500s the receiver recovers and gets every digest once, in order, same ids."""
    sink = Sink([Response(b"boom", 500), Response(b"boom", 500)])
    receiver.routes["/a"] = sink
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 4)
    drain(worker, clock)
    assert sink.accepted == expected
    assert sink.seen[:3] == [expected[0]] * 3
    assert set(statuses(worker).values()) == {outbox.DELIVERED}


def test_timeout_is_retried_and_recovers(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """A receiver slower than the attempt deadline is retried; the history says it timed out."""
    sink = Sink([Response(b"late", 200, delay=1.5)])
    receiver.routes["/a"] = sink
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for(timeout=0.3)
    (expected,) = seed(worker, 2)
    drain(worker, clock)
    assert sink.accepted == expected
    with worker.sessions() as session:
        first = session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).first()
    assert first is not None
    assert first.status_code is None
    assert first.error == "no answer within 0.3 s"


def test_retry_after_is_honoured(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """A 429 with Retry-After: 120 holds the message back for two minutes, then it goes."""
    sink = Sink([Response(b"slow down", 429, headers={"retry-after": "120"})])
    receiver.routes["/a"] = sink
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 1)
    deliver(worker)
    clock.advance(60)
    deliver(worker)
    assert len(sink.seen) == 1
    clock.advance(61)
    deliver(worker)
    assert sink.accepted == expected


def test_connection_dropped_mid_request_is_retried(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """A receiver that closes the connection without answering gets the message again later."""
    sink = Sink([ConnectionAbortedError, ConnectionAbortedError])
    receiver.routes["/a"] = sink
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 3)
    drain(worker, clock)
    assert sink.accepted == expected
    with worker.sessions() as session:
        errors = list(session.scalars(select(DeliveryAttempt.error).order_by(DeliveryAttempt.id)))
    assert errors[0] is not None
    assert errors[0].startswith("RemoteProtocolError")


def test_redirect_is_a_permanent_failure_and_not_followed(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """A 302 fails that message for good without following it; the next message still goes."""
    sink = Sink([Response(b"", 302, headers={"location": receiver.url("/elsewhere")})])
    receiver.routes["/a"] = sink
    receiver.routes["/elsewhere"] = Response(b"ok", 200)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 2)
    drain(worker, clock)
    assert receiver.received("/elsewhere") == []
    assert statuses(worker) == {expected[0]: outbox.FAILED, expected[1]: outbox.DELIVERED}


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(400, outbox.FAILED), (404, outbox.FAILED), (408, outbox.DELIVERED),
     (409, outbox.DELIVERED), (425, outbox.DELIVERED), (429, outbox.DELIVERED)],
)  # fmt: skip
def test_client_errors_fail_for_good_unless_retryable(
    worker_for: Callable[..., tuple[Worker, FakeClock]],
    tmp_path: Path,
    receiver: LocalServer,
    status: int,
    verdict: str,
) -> None:
    """A 4xx fails the message for good, except 408, 409, 425 and 429, which are retried."""
    receiver.routes["/a"] = Sink([Response(b"no", status)])
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 1)
    drain(worker, clock)
    assert statuses(worker) == {expected[0]: verdict}


@pytest.mark.parametrize(("fmt", "status"), [("json", 410), ("slack", 404), ("discord", 404)])
def test_gone_destination_is_disabled_and_reported(
    worker_for: Callable[..., tuple[Worker, FakeClock]],
    tmp_path: Path,
    receiver: LocalServer,
    caplog: pytest.LogCaptureFixture,
    fmt: str,
    status: int,
) -> None:
    """A 410 (or a Slack/Discord 404) disables that destination only, with an error log line."""
    gone, fine = Sink([Response(b"gone", status)]), Sink()
    receiver.routes["/gone"], receiver.routes["/fine"] = gone, fine
    hooks = [(receiver.url("/gone"), fmt), (receiver.url("/fine"), "json")]
    write_watchlist(tmp_path / "watchlists", "steel", hooks)
    worker, clock = worker_for()
    gone_ids, fine_ids = seed(worker, 3)
    with caplog.at_level("ERROR", logger="wirewatch.delivery"):
        drain(worker, clock)
    assert len(gone.seen) == 1
    assert fine.accepted == fine_ids
    assert {statuses(worker)[i] for i in gone_ids} == {outbox.DISABLED}
    assert any(r.getMessage().startswith("destination disabled") for r in caplog.records)
    with worker.sessions() as session:
        (row,) = session.scalars(select(Destination))
    assert row.disabled
    assert row.disabled_reason == f"HTTP {status}: destination gone"


def test_last_attempt_dead_letters_and_reports(
    worker_for: Callable[..., tuple[Worker, FakeClock]],
    tmp_path: Path,
    receiver: LocalServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing all three attempts of [0, 1, 1] dead-letters a message; the next one goes."""
    receiver.routes["/a"] = Sink([Response(b"down", 503)] * 3)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    (expected,) = seed(worker, 2)
    with caplog.at_level("ERROR", logger="wirewatch.delivery"):
        drain(worker, clock)
    assert statuses(worker) == {expected[0]: outbox.DEAD, expected[1]: outbox.DELIVERED}
    assert any("dead-lettered after 3 attempts" in r.getMessage() for r in caplog.records)


def test_backoff_follows_the_schedule_with_jitter(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """After the first failure the next attempt waits the schedule's delay, within ±20%."""
    receiver.routes["/a"] = Sink([Response(b"down", 500)] * 5)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, _clock = worker_for(schedule=(0, 100, 1000))
    seed(worker, 1)
    deliver(worker)
    (row,) = pending(worker)
    assert row.next_attempt_at is not None
    wait = (row.next_attempt_at - START).total_seconds()
    assert 80 <= wait <= 120


def test_failing_destination_never_delays_the_others(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """While one destination times out, the other gets all its digests in the same pass."""
    receiver.routes["/slow"] = Sink([Response(b"", 200, delay=2.0)] * 10)
    fast = Sink()
    receiver.routes["/fast"] = fast
    hooks = [(receiver.url("/slow"), "json"), (receiver.url("/fast"), "json")]
    write_watchlist(tmp_path / "watchlists", "steel", hooks)
    worker, _clock = worker_for(timeout=0.3)
    _slow_ids, fast_ids = seed(worker, 5)
    report = deliver(worker)
    assert fast.accepted == fast_ids
    assert report.retrying == 1


def test_every_attempt_is_recorded(
    worker_for: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """Each attempt keeps its time, status, latency, error and the start of the answer."""
    receiver.routes["/a"] = Sink([Response(b"x" * 2000, 500)])
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = worker_for()
    seed(worker, 1)
    drain(worker, clock, step=5.0)
    with worker.sessions() as session:
        attempts = list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))
    assert [a.status_code for a in attempts] == [500, 200]
    assert [a.attempted_at for a in attempts] == [START, START + timedelta(seconds=5)]
    assert [a.error for a in attempts] == ["HTTP 500", None]
    assert attempts[0].response_excerpt == "x" * 500
    assert attempts[1].response_excerpt == "ok"
    assert all(a.latency_ms > 0 for a in attempts)


def test_deliveries_list_shows_the_disabled_destination(
    worker_for: Callable[..., tuple[Worker, FakeClock]],
    database_url: str,
    tmp_path: Path,
    receiver: LocalServer,
) -> None:
    """After a 410, `wirewatch deliveries list` shows the messages as disabled, and why."""
    receiver.routes["/gone"] = Response(b"gone", 410)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/gone"), "json")])
    worker, clock = worker_for()
    (ids,) = seed(worker, 2)
    drain(worker, clock)
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
    }
    listing = subprocess.run(
        [sys.executable, "-m", "worker", "deliveries", "list", "--status", "disabled", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = json.loads(listing.stdout)
    assert sorted(row["id"] for row in rows) == sorted(ids)
    assert {row["last_error"] for row in rows} == {
        "destination disabled (HTTP 410: destination gone)",
        "destination disabled",
    }
