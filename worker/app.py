"""Build a worker from settings: the one place where ports meet their adapters.

`build_worker(settings)` wires the database, the watchlist registry, the HTTP clients and
the clock; tests pass their own `clock`, `resolver` or `env` instead of patching globals.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.dedup.decide import Thresholds
from worker.fetch.client import FetchConfig, FetchLimits
from worker.fetch.guard import AddressPolicy, Resolver
from worker.procs import die_with_parent
from worker.store.db import create_db_engine, session_factory
from worker.store.leases import new_owner
from worker.store.near import StoreNearDuplicates
from worker.watchlists.registry import WatchlistRegistry

log = logging.getLogger("wirewatch")


def utc_now() -> datetime:
    """The wall clock, in UTC (the only place that reads it)."""
    return datetime.now(UTC)


@dataclass
class Worker:
    """Everything one wirewatch process needs, built once."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: WatchlistRegistry
    near: StoreNearDuplicates
    fetch_config: FetchConfig
    policy: AddressPolicy
    clock: Callable[[], datetime] = utc_now
    resolver: Resolver | None = None
    rng: random.Random = field(default_factory=random.Random)
    instance_id: str = field(default_factory=new_owner)  # holder name of this process's leases
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)

    def parser_pool(self) -> ProcessPoolExecutor | None:
        """The processes that parse feed bodies (created on first use), or None."""
        if self.settings.parse_workers <= 0:
            return None
        if self._pool is None:
            # spawn: the service has threads (fork is unsafe) and each child must die
            # with its parent, which the initializer arranges
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.settings.parse_workers, mp_context=context, initializer=die_with_parent
            )
        return self._pool

    @property
    def poll_interval(self) -> timedelta:
        """The base interval between two polls of a feed."""
        return timedelta(seconds=self.settings.poll_interval_seconds)

    def secrets_for(self, destination: str) -> tuple[str, ...]:
        """The signing secrets (current first, then previous) of a destination."""
        for watchlist in self.registry.watchlists:
            for hook in watchlist.webhooks:
                if hook.key == destination and hook.secret:
                    return (hook.secret, *hook.secrets_previous)
        return ()

    def warm_parsers(self) -> None:
        """Start the parser processes now rather than at the first changed feed."""
        pool = self.parser_pool()
        if pool is not None:
            jobs = [pool.submit(os.getpid) for _ in range(self.settings.parse_workers)]
            for job in jobs:
                job.result()

    def close(self) -> None:
        """Stop the parser processes and release the database connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.engine.dispose()


def address_policy(settings: Settings) -> AddressPolicy:
    """The SSRF policy: private and loopback addresses refused unless listed."""
    return AddressPolicy.allowing(*settings.allow_hosts)


def build_worker(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    resolver: Resolver | None = None,
    env: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> Worker:
    """Wire a worker from settings; optional ports replace the real clock, DNS or env."""
    engine = engine or create_db_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    policy = address_policy(settings)
    limits = FetchLimits(
        max_bytes=settings.max_response_bytes,
        max_redirects=settings.max_redirects,
        total_timeout_seconds=settings.request_timeout_seconds,
        max_concurrency=settings.max_concurrency,
        max_per_host=settings.max_per_host,
        policy=policy,
    )
    fetch_config = FetchConfig(
        contact_url=settings.user_agent_contact,
        connect_timeout_seconds=settings.connect_timeout_seconds,
        read_timeout_seconds=settings.request_timeout_seconds,
        limits=limits,
    )
    thresholds = Thresholds(
        duplicate_threshold=settings.duplicate_threshold,
        related_threshold=settings.related_threshold,
    )
    return Worker(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        registry=WatchlistRegistry(
            settings.watchlists_dir, os.environ if env is None else env, log
        ),
        near=StoreNearDuplicates(thresholds, timedelta(days=settings.history_days)),
        fetch_config=fetch_config,
        policy=policy,
        clock=clock or utc_now,
        resolver=resolver,
    )
