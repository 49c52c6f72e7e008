"""Prometheus metrics of one worker process, behind a small API of plain functions.

The pipeline and the scheduler call `feed_polled(200)`, `stories(new=3, ...)`, and so
on; only this module imports `prometheus_client`. Everything lives in `REGISTRY`, a
dedicated `CollectorRegistry` (not the library's global one), which `/metrics` serves.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

FEEDS_POLLED = Counter(
    "wirewatch_feeds_polled", "Feed polls, by HTTP status (none: no answer).", ["status"],
    registry=REGISTRY,
)  # fmt: skip
FETCH_ERRORS = Counter(
    "wirewatch_fetch_errors", "Failed feed polls, by kind of error.", ["kind"], registry=REGISTRY
)
STORIES = Counter(
    "wirewatch_stories", "Stories seen, by outcome: new, duplicate, matched.", ["outcome"],
    registry=REGISTRY,
)  # fmt: skip
DIGESTS = Counter(
    "wirewatch_digests_built", "Digests built (one per watchlist period).", registry=REGISTRY
)
DELIVERIES = Counter(
    "wirewatch_deliveries", "Delivery attempts, by outcome: sent, retrying, failed, dead.",
    ["outcome"], registry=REGISTRY,
)  # fmt: skip
DELIVERY_LATENCY = Histogram(
    "wirewatch_delivery_latency_seconds", "Time a receiver took to answer a delivery.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY,
)  # fmt: skip
CYCLE_DURATION = Histogram(
    "wirewatch_cycle_duration_seconds", "Duration of one tick (poll and deliver).",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=REGISTRY,
)  # fmt: skip
LAST_CYCLE = Gauge(
    "wirewatch_last_cycle_timestamp_seconds", "When the last tick finished (Unix time).",
    registry=REGISTRY,
)  # fmt: skip
PRUNED = Counter(
    "wirewatch_pruned_rows", "Rows deleted by retention, by table.", ["table"], registry=REGISTRY
)


def feed_polled(status: int | None) -> None:
    """A feed was polled and answered `status` (None: no HTTP answer)."""
    FEEDS_POLLED.labels(status=str(status) if status is not None else "none").inc()


def fetch_error(kind: str) -> None:
    """A feed poll failed with an error of `kind` (timeout, http_5xx, parse, ...)."""
    FETCH_ERRORS.labels(kind=kind).inc()


def stories(*, new: int = 0, duplicate: int = 0, matched: int = 0) -> None:
    """Stories stored as new, dropped as duplicates, and matches queued."""
    for outcome, count in (("new", new), ("duplicate", duplicate), ("matched", matched)):
        if count:
            STORIES.labels(outcome=outcome).inc(count)


def digests_built(count: int = 1) -> None:
    """Digests were built and put in the outbox."""
    if count:
        DIGESTS.inc(count)


def deliveries(
    *, sent: int = 0, retrying: int = 0, failed: int = 0, dead: int = 0,
    latencies_ms: Iterable[float] = (),
) -> None:  # fmt: skip
    """The outcome of a delivery pass: counts and each attempt's latency in milliseconds."""
    counts = (("sent", sent), ("retrying", retrying), ("failed", failed), ("dead", dead))
    for outcome, count in counts:
        if count:
            DELIVERIES.labels(outcome=outcome).inc(count)
    for latency in latencies_ms:
        DELIVERY_LATENCY.observe(latency / 1000)


def cycle_done(duration_seconds: float, finished_at: float) -> None:
    """A tick took `duration_seconds` and finished at Unix time `finished_at`."""
    CYCLE_DURATION.observe(duration_seconds)
    LAST_CYCLE.set(finished_at)


def pruned(table: str, count: int) -> None:
    """Retention deleted `count` rows of `table`."""
    if count:
        PRUNED.labels(table=table).inc(count)


def exposition() -> bytes:
    """Every metric in the Prometheus text format."""
    return generate_latest(REGISTRY)
