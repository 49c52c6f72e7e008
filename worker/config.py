"""Settings, read once at the edge (the CLI) from `WIREWATCH_*` variables and `.env`.

Nothing below the CLI builds `Settings()` itself: it takes plain values or the small
value objects derived here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from worker.dedup.decide import DUPLICATE_THRESHOLD, RELATED_THRESHOLD
from worker.errors import ConfigError

DEFAULT_SQLITE_URL = "sqlite:///var/wirewatch.db"


def available_cores() -> int | None:
    """The CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def default_parse_workers(cores: int | None) -> int:
    """One parser process per core but one, and at least one.

    The worker process itself fetches and stores, about as much CPU as parsing on a
    first poll, so it keeps a core: on 2 cores, one parser process stored a first cycle
    of 50,000 stories 6-14% faster than two (`bench/poll_pipeline.py --parse-workers`).
    """
    return max(1, (cores or 1) - 1)


class Settings(BaseSettings):
    """Every setting of wirewatch. Each is `WIREWATCH_<NAME>` in the environment or `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="WIREWATCH_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    watchlists_dir: Path = Field(Path("watchlists"), description="Folder of watchlist YAML files.")
    seeds_dir: Path = Field(Path("seeds"), description="Folder of seed articles (already read).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: readable on a terminal, JSON lines otherwise."
    )
    poll_interval_seconds: int = Field(
        900, ge=10, description="How often each feed is polled (before jitter and backoff)."
    )
    lookback_hours: float = Field(
        24.0,
        ge=0,
        description="On a feed's first poll, stories older than this are recorded, not queued.",
    )
    history_days: int = Field(
        30, ge=1, description="Stories of the last N days are checked for duplicates."
    )
    duplicate_threshold: float = Field(
        DUPLICATE_THRESHOLD,
        gt=0,
        le=1,
        description="Containment at or above which a story is a duplicate.",
    )
    related_threshold: float = Field(
        RELATED_THRESHOLD,
        gt=0,
        le=1,
        description="Containment at or above which a story joins a cluster.",
    )
    request_timeout_seconds: float = Field(20.0, gt=0, description="Total deadline per request.")
    connect_timeout_seconds: float = Field(10.0, gt=0, description="TCP/TLS connect timeout.")
    max_response_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest decoded feed body accepted."
    )
    max_redirects: int = Field(5, ge=0, description="Redirects followed per request.")
    max_entries_per_feed: int = Field(200, ge=1, description="Entries taken from one feed body.")
    max_concurrency: int = Field(32, ge=1, description="Concurrent feed requests in all.")
    max_per_host: int = Field(2, ge=1, description="Concurrent feed requests to one host.")
    user_agent_contact: str = Field(
        "https://github.com/wirewatch/wirewatch",
        description="Contact URL sent in the User-Agent header.",
    )
    allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) allowed although private/loopback, comma-separated.",
    )
    delivery_timeout_seconds: float = Field(
        15.0, gt=0, description="Timeout of one webhook attempt."
    )
    retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        description="Seconds to wait before each delivery retry; when exhausted, dead-letter.",
    )
    feed_failure_notice_hours: float = Field(
        24.0,
        ge=0,
        description="A feed failing this long (or disabled) is reported once in the digests.",
    )
    parse_workers: int = Field(
        default_factory=lambda: default_parse_workers(available_cores()),
        ge=0,
        description="Processes that parse feed bodies (0: parse in the worker).",
    )
    send_empty_digests: bool = Field(
        False, description="Send a 'nothing new' message when a digest period has no stories."
    )
    tick_seconds: float = Field(
        30.0, gt=0, description="How often the service looks for due feeds and deliveries."
    )
    db_pool_size: int = Field(5, ge=1, description="PostgreSQL connections kept in the pool.")
    db_max_overflow: int = Field(
        5, ge=0, description="PostgreSQL connections opened beyond the pool when busy."
    )
    health_port: int = Field(
        0, ge=0, le=65535, description="Port of /healthz, /readyz and /metrics (0: off)."
    )
    shutdown_timeout_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight polls and deliveries may finish."
    )
    retain_stories_days: int = Field(
        90, ge=1, description="Stories older than this are pruned (never seeds or queued ones)."
    )
    retain_matches_days: int = Field(
        90, ge=1, description="Digested or backlog matches older than this are pruned."
    )
    retain_deliveries_days: int = Field(
        30, ge=1, description="Finished deliveries (and their digests) older than this are pruned."
    )

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return [float(part) for part in value.split(",") if part.strip()]
            except ValueError:
                raise ValueError("must be comma-separated numbers of seconds") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value


def load_settings(**overrides: object) -> Settings:
    """Build the settings, or raise `ConfigError` naming the first invalid one."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "WIREWATCH_" + "_".join(str(part) for part in first["loc"][:1]).upper()
        raise ConfigError(name, first["msg"]) from None
    except SettingsError as exc:
        raise ConfigError("WIREWATCH_*", str(exc)) from None
