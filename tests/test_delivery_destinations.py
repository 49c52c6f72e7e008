"""Destinations end to end: Apprise, retired Teams URLs, address policy, secrets, empty digests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from tests.servers import LocalServer, Response
from tests.test_delivery_retries import (
    SECRET,
    FakeClock,
    Sink,
    drain,
    make_worker,
    seed,
    statuses,
    write_watchlist,
)
from worker.app import Worker
from worker.delivery.apprise_send import NOT_INSTALLED
from worker.delivery.policy import RETIRED_TEAMS_MESSAGE
from worker.pipeline import build_digest_for, deliver
from worker.store import outbox
from worker.store.tables import Delivery

OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
TOKEN_PATH = "/services/T000/B000/XyZsecretTokenValue42"


@pytest.fixture
def make(database_url: str, tmp_path: Path) -> Iterator[Callable[..., tuple[Worker, FakeClock]]]:
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


def last_error(worker: Worker, delivery_id: str) -> str | None:
    """The last error recorded on a delivery."""
    with worker.sessions() as session:
        return session.get_one(Delivery, delivery_id).last_error


def test_apprise_destination_is_sent_through_apprise(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """An apprise `json://` URL reaches the local receiver with the digest's title and body."""
    receiver.routes["/notify"] = Response(b"ok", 200)
    url = f"json://127.0.0.1:{receiver.port}/notify"
    write_watchlist(tmp_path / "watchlists", "steel", [(url, "apprise")])
    worker, clock = make()
    (expected,) = seed(worker, 2)
    drain(worker, clock)
    posts = receiver.received("/notify")
    assert [(p.json()["title"], p.json()["message"]) for p in posts] == [
        ("digest 0", "story 0"),
        ("digest 1", "story 1"),
    ]
    assert set(statuses(worker).values()) == {outbox.DELIVERED}
    assert expected


def test_apprise_failure_is_retried_by_the_outbox(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """When Apprise reports a failure the message is retried on our schedule and then arrives."""
    sink = Sink([Response(b"down", 500)])
    receiver.routes["/notify"] = sink
    write_watchlist(
        tmp_path / "watchlists", "steel", [(f"json://127.0.0.1:{receiver.port}/notify", "apprise")]
    )
    worker, clock = make()
    seed(worker, 1)
    deliver(worker)
    (row,) = statuses(worker).items()
    assert row[1] == outbox.PENDING
    drain(worker, clock)
    assert len(sink.seen) == 2
    assert set(statuses(worker).values()) == {outbox.DELIVERED}


def test_apprise_host_must_pass_the_address_policy(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """An apprise URL to 127.0.0.1 without WIREWATCH_ALLOW_HOSTS is refused for good, unsent."""
    receiver.routes["/notify"] = Response(b"ok", 200)
    write_watchlist(
        tmp_path / "watchlists", "steel", [(f"json://127.0.0.1:{receiver.port}/notify", "apprise")]
    )
    worker, clock = make(allow_local=False)
    ((delivery_id,),) = seed(worker, 1)
    drain(worker, clock)
    assert receiver.received("/notify") == []
    assert statuses(worker) == {delivery_id: outbox.FAILED}
    assert "loopback" in (last_error(worker, delivery_id) or "")


def test_apprise_missing_fails_for_good_with_a_clear_error(
    make: Callable[..., tuple[Worker, FakeClock]],
    tmp_path: Path,
    receiver: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the Apprise library an apprise message fails at once, saying what to install."""
    monkeypatch.setitem(sys.modules, "apprise", None)
    write_watchlist(
        tmp_path / "watchlists", "steel", [(f"json://127.0.0.1:{receiver.port}/n", "apprise")]
    )
    worker, clock = make()
    ((delivery_id,),) = seed(worker, 1)
    drain(worker, clock)
    assert statuses(worker) == {delivery_id: outbox.FAILED}
    assert last_error(worker, delivery_id) == NOT_INSTALLED


def test_retired_teams_connector_fails_for_good(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path
) -> None:
    """A retired Office 365 connector URL is never called; the delivery says to use Workflows."""
    url = "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456"
    write_watchlist(tmp_path / "watchlists", "steel", [(url, "teams")])
    worker, clock = make()
    ((delivery_id,),) = seed(worker, 1)
    drain(worker, clock)
    assert statuses(worker) == {delivery_id: outbox.FAILED}
    assert last_error(worker, delivery_id) == RETIRED_TEAMS_MESSAGE


def test_loopback_webhook_is_refused_without_allow_hosts(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """A webhook to 127.0.0.1 is refused and recorded as a permanent failure, nothing sent."""
    receiver.routes["/a"] = Response(b"ok", 200)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = make(allow_local=False)
    ((delivery_id,),) = seed(worker, 1)
    drain(worker, clock)
    assert receiver.received("/a") == []
    assert statuses(worker) == {delivery_id: outbox.FAILED}
    assert (last_error(worker, delivery_id) or "").startswith("address refused")


def test_rotated_secret_signatures_verify_with_either_secret(
    make: Callable[..., tuple[Worker, FakeClock]], tmp_path: Path, receiver: LocalServer
) -> None:
    """During rotation one webhook-signature header verifies with the new and the old secret."""
    receiver.routes["/a"] = Response(b"ok", 200)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    path = tmp_path / "watchlists" / "steel.yaml"
    path.write_text(path.read_text() + f"    secrets_previous: [{OLD_SECRET}]\n", encoding="utf-8")
    worker, clock = make()
    clock.now = datetime.now(UTC)  # receivers refuse stale webhook-timestamps
    seed(worker, 1)
    drain(worker, clock)
    (post,) = receiver.received("/a")
    assert len(post.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        Webhook(secret).verify(post.body, post.headers)


def test_urls_and_secrets_never_reach_the_logs(
    make: Callable[..., tuple[Worker, FakeClock]],
    database_url: str,
    tmp_path: Path,
    receiver: LocalServer,
) -> None:
    """`run --once` at debug level, with 500s, a 410 and Apprise failures, prints no token."""
    receiver.routes[TOKEN_PATH] = Sink([Response(b"no", 500), ConnectionAbortedError])
    receiver.routes[TOKEN_PATH + "/gone"] = Response(b"gone", 410)
    receiver.routes[TOKEN_PATH + "/apprise"] = Response(b"down", 500)
    hooks = [
        (receiver.url(TOKEN_PATH), "json"),
        (receiver.url(TOKEN_PATH + "/gone"), "slack"),
        (f"json://127.0.0.1:{receiver.port}{TOKEN_PATH}/apprise", "apprise"),
    ]
    write_watchlist(tmp_path / "watchlists", "steel", hooks)
    worker, _clock = make()
    worker.clock = FakeClock(datetime.now(UTC))
    seed(worker, 2)
    env = {
        **os.environ,
        "WIREWATCH_DATABASE_URL": database_url,
        "WIREWATCH_WATCHLISTS_DIR": str(tmp_path / "watchlists"),
        "WIREWATCH_SEEDS_DIR": str(tmp_path / "seeds"),
        "WIREWATCH_ALLOW_HOSTS": "127.0.0.1",
        "WIREWATCH_RETRY_SCHEDULE": "0,0,0",
        "WIREWATCH_LOG_LEVEL": "DEBUG",
        "WIREWATCH_LOG_FORMAT": "json",
    }
    output = ""
    for _ in range(3):
        run = subprocess.run(
            [sys.executable, "-m", "worker", "run", "--once"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        output += run.stdout + run.stderr
    assert '"level": "error"' in output
    assert "destination disabled" in output
    assert "XyZsecretTokenValue42" not in output
    assert SECRET.removeprefix("whsec_") not in output


@pytest.mark.parametrize("send_empty", [False, True])
def test_empty_period_sends_only_when_asked(
    make: Callable[..., tuple[Worker, FakeClock]],
    tmp_path: Path,
    receiver: LocalServer,
    send_empty: bool,
) -> None:
    """With nothing queued, nothing is sent unless WIREWATCH_SEND_EMPTY_DIGESTS asks for it."""
    receiver.routes["/a"] = Response(b"ok", 200)
    write_watchlist(tmp_path / "watchlists", "steel", [(receiver.url("/a"), "json")])
    worker, clock = make(send_empty=send_empty)
    (watchlist,) = worker.registry.watchlists
    digest_id = build_digest_for(worker, watchlist)
    drain(worker, clock)
    posts = receiver.received("/a")
    if not send_empty:
        assert digest_id is None
        assert posts == []
        return
    (post,) = posts
    assert post.json()["stories"] == []
    assert post.json()["id"] == digest_id
    with worker.sessions() as session:
        assert session.scalars(select(Delivery.status)).all() == [outbox.DELIVERED]
