"""Send what the outbox holds: one destination at a time in order, destinations in parallel.

Each delivery keeps its id (the `webhook-id`) on every attempt, so a receiver that
de-duplicates on it sees each message once even when a crash makes us send it again:
the attempt is committed only after the receiver answered, so a worker killed in between
sends the same message, with the same id, after its restart.

A failing destination holds back only its own later messages, never another's. How an
answer is judged and when to try again is `policy`'s; this module sends and records:

- `json`, `slack`, `discord`, `teams`: an HTTP POST through the guarded client, with a
  deadline per attempt; redirects are not followed.
- `apprise`: one notification through the Apprise library (`apprise_send`).
- A retired Office 365 connector URL, or an address the policy refuses, fails at once
  and for good, and is recorded like any other attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from worker.delivery import policy
from worker.delivery.apprise_send import send_apprise
from worker.delivery.signing import webhook_headers
from worker.errors import FetchRefused
from worker.fetch.guard import AddressPolicy, Resolver, check_url
from worker.store import outbox
from worker.store.locks import NamedLocks
from worker.store.tables import Delivery

log = logging.getLogger("wirewatch.delivery")

RESPONSE_EXCERPT_BYTES = 500
MAX_PARALLEL_DESTINATIONS = 16


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    dead: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    disabled: int = 0


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one attempt (HTTP or Apprise)."""

    status_code: int | None
    error_kind: str | None
    error: str | None
    excerpt: str | None
    retry_after: str | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How attempts are made: deadline, address policy and resolver, retry schedule."""

    schedule: Sequence[float]
    timeout: float
    address_policy: AddressPolicy
    resolver: Resolver | None
    rng: random.Random


async def deliver_due(
    sessions: sessionmaker[Session],
    client: httpx.AsyncClient,
    *,
    secrets_for: Callable[[str], Sequence[str]],
    clock: Callable[[], datetime],
    schedule: Sequence[float],
    timeout: float,
    rng: random.Random | None = None,
    address_policy: AddressPolicy | None = None,
    resolver: Resolver | None = None,
    locks: NamedLocks | None = None,
) -> DeliveryReport:
    """Attempt every pending delivery that is due, keeping order per destination.

    With `locks`, each destination is sent to only while holding the lock
    `deliver:<destination>`, so replicas sharing a database never send the same message
    at once; a destination another replica holds is skipped (that replica sends it). The
    locks die with their holder, so a restarted worker sends at once.
    """
    options = SendOptions(
        schedule, timeout, address_policy or AddressPolicy(), resolver, rng or random.Random()
    )
    report = DeliveryReport()
    now = clock()
    with sessions() as session:
        by_destination = outbox.due_queues(session, now)
        disabled = outbox.disabled_destinations(session)
    gate = asyncio.Semaphore(MAX_PARALLEL_DESTINATIONS)

    async def run(destination: str, ids: list[str]) -> None:
        async with gate:
            name = f"deliver:{destination}"
            if locks is not None and not locks.try_acquire(name):
                return
            try:
                for delivery_id in ids:
                    sent = await _deliver_one(
                        sessions, client, delivery_id, disabled,
                        secrets_for=secrets_for, clock=clock, options=options, report=report,
                    )  # fmt: skip
                    if not sent:
                        break
            finally:
                if locks is not None:
                    locks.release(name)

    await asyncio.gather(*(run(dest, ids) for dest, ids in by_destination.items()))
    return report


async def _deliver_one(
    sessions: sessionmaker[Session],
    client: httpx.AsyncClient,
    delivery_id: str,
    disabled: set[str],
    *,
    secrets_for: Callable[[str], Sequence[str]],
    clock: Callable[[], datetime],
    options: SendOptions,
    report: DeliveryReport,
) -> bool:
    """Attempt one delivery if due; True when the destination may go on to the next one."""
    now = clock()
    with sessions() as session:
        delivery = session.get_one(Delivery, delivery_id)
        if delivery.status != outbox.PENDING:
            return True
        if delivery.destination in disabled:
            delivery.status = outbox.DISABLED
            delivery.next_attempt_at = None
            delivery.last_error = "destination disabled"
            session.commit()
            report.disabled += 1
            return True
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return False
        url, body, content_type = delivery.url, delivery.body.encode(), delivery.content_type
        fmt, destination = delivery.format, delivery.destination
    secrets = secrets_for(destination) if fmt == "json" else ()
    headers = webhook_headers(delivery_id, int(now.timestamp()), body, secrets,
                              content_type=content_type)  # fmt: skip
    result = await _send(client, fmt, url, body, headers, options)
    outcome = policy.classify(result.status_code, result.error_kind, fmt)
    finished = clock()
    with sessions() as session:
        delivery = session.get_one(Delivery, delivery_id)
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        outbox.record_attempt(
            session, delivery_id, at=now, status_code=result.status_code,
            latency_ms=result.latency_ms, error=result.error, response_excerpt=result.excerpt,
        )  # fmt: skip
        verdict = _apply(session, delivery, outcome, result, finished, options)
        session.commit()
    log.info(
        "delivery %s",
        verdict,
        extra={
            "delivery_id": delivery_id,
            "destination": destination,
            "status_code": result.status_code,
            "attempt": delivery.attempts,
            "latency_ms": round(result.latency_ms, 1),
            "error": result.error,
        },
    )
    return _count(verdict, result, destination, disabled, report)


def _count(
    verdict: str,
    result: AttemptResult,
    destination: str,
    disabled: set[str],
    report: DeliveryReport,
) -> bool:
    """Add the verdict to the report; True when the destination may go on."""
    if verdict == outbox.DELIVERED:
        report.delivered += 1
        report.latencies_ms.append(result.latency_ms)
    elif verdict == outbox.PENDING:
        report.retrying += 1
        return False
    elif verdict == outbox.DEAD:
        report.dead += 1
    elif verdict == outbox.DISABLED:
        disabled.add(destination)
        report.disabled += 1
    else:
        report.failed += 1
    return True


def _apply(
    session: Session,
    delivery: Delivery,
    outcome: policy.Outcome,
    result: AttemptResult,
    now: datetime,
    options: SendOptions,
) -> str:
    """Set the delivery's status from the verdict on its attempt; return the status."""
    where = {"delivery_id": delivery.id, "destination": delivery.destination}
    if outcome is policy.Outcome.DELIVERED:
        delivery.status = outbox.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        return delivery.status
    if outcome is policy.Outcome.RETRY:
        retry_after = policy.parse_retry_after(result.retry_after, now)
        when = policy.next_attempt_at(
            now, delivery.attempts, options.schedule, retry_after, options.rng
        )
        if when is not None:
            delivery.next_attempt_at = when
            return delivery.status
        delivery.status = outbox.DEAD
        log.error(
            "delivery dead-lettered after %d attempts: %s",
            delivery.attempts, result.error, extra=where,
        )  # fmt: skip
    elif outcome is policy.Outcome.DISABLE_DESTINATION:
        reason = f"HTTP {result.status_code}: destination gone"
        delivery.status = outbox.DISABLED
        delivery.last_error = f"destination disabled ({reason})"
        outbox.disable_destination(session, delivery.destination, reason, now)
        log.error("destination disabled: %s", reason, extra=where)
    else:
        delivery.status = outbox.FAILED
        log.error("delivery failed for good: %s", result.error, extra=where)
    delivery.next_attempt_at = None
    return delivery.status


async def _send(
    client: httpx.AsyncClient,
    fmt: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    options: SendOptions,
) -> AttemptResult:
    """Make one attempt in the way the destination's format asks for."""
    started = time.perf_counter()
    if fmt == "teams" and policy.is_retired_teams_url(url):
        return _failure("invalid_url", policy.RETIRED_TEAMS_MESSAGE, started)
    if fmt == "apprise":
        sent = await send_apprise(
            url, body, policy=options.address_policy, timeout=options.timeout,
            resolver=options.resolver,
        )  # fmt: skip
        if sent.ok:
            return AttemptResult(200, None, None, None, None, _elapsed(started))
        return _failure(sent.error_kind or "network", sent.error or "not sent", started)
    try:
        check_url(url, options.address_policy)
    except FetchRefused as exc:
        return _failure("refused", f"address refused: {exc.message}", started)
    return await _attempt(client, url, body, headers, options.timeout)


async def _attempt(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptResult:
    """POST once within `timeout` seconds; keep the start of the answer's body."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", url, content=body, headers=headers, follow_redirects=False
            ) as response:
                excerpt = bytearray()
                async for chunk in response.aiter_bytes():
                    excerpt.extend(chunk[: RESPONSE_EXCERPT_BYTES - len(excerpt)])
                    if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                        break
                status = response.status_code
                retry_after = response.headers.get("retry-after")
    except TimeoutError:
        return _failure("timeout", f"no answer within {timeout:g} s", started)
    except httpx.TimeoutException:
        return _failure("timeout", "timed out", started)
    except FetchRefused as exc:
        return _failure("refused", f"address refused: {exc.message}", started)
    except httpx.HTTPError as exc:
        return _failure("network", f"{type(exc).__name__}: {_safe(exc)}", started)
    except OSError as exc:
        return _failure("network", type(exc).__name__, started)
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return AttemptResult(status, None, error, excerpt.decode("utf-8", "replace"), retry_after,
                         _elapsed(started))  # fmt: skip


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _failure(kind: str, message: str, started: float) -> AttemptResult:
    return AttemptResult(None, kind, message, None, None, _elapsed(started))


def _safe(exc: Exception) -> str:
    """An error message without the URL (webhook URLs embed tokens)."""
    text = str(exc)
    return "" if "://" in text else text[:200]
