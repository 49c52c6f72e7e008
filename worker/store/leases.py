"""Named leases, so that several `wirewatch run` replicas on one database share the work.

A lease is a row `(name, owner, expires_at)`. `claim` takes it when it is free, expired,
or already ours (renewal); the holder's work must finish within `ttl`, and a holder that
dies simply lets it expire. Every function runs in the caller's session, which must be
committed before the work starts so that other replicas see the claim::

    with sessions.begin() as session:
        if not leases.claim(session, "digest:markets", owner, ttl, now):
            return                      # another replica is on it
    ...                                 # the work
    with sessions.begin() as session:
        leases.release(session, "digest:markets", owner)

The take is a single conditional UPDATE, then an INSERT that ignores a conflict, so two
replicas racing for one name cannot both win, on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from worker.store.tables import Feed, Lease


def new_owner() -> str:
    """A name for this process that no other replica shares: host, pid and a random tag."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(session: Session, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease `name` for `owner` until `now + ttl`; False if another holds it."""
    until = now + ttl
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at <= now))
        .values(owner=owner, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(taken):
        return True
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.scalar(
        dialect.insert(Lease)
        .values(name=name, owner=owner, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    )
    return inserted is not None


def release(session: Session, name: str, owner: str) -> bool:
    """Give the lease `name` back, if `owner` holds it; True when it did."""
    result = session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.owner == owner)
        .execution_options(synchronize_session=False)
    )
    return bool(_rowcount(result))


def holder(session: Session, name: str, now: datetime) -> str | None:
    """Who holds the lease `name` at `now`, or None when it is free or expired."""
    lease = session.get(Lease, name)
    if lease is None or lease.expires_at <= now:
        return None
    return lease.owner


def release_all(session: Session, owner: str) -> int:
    """Give back every lease of `owner`, named or on feeds (a clean shutdown); how many."""
    named = session.execute(
        delete(Lease).where(Lease.owner == owner).execution_options(synchronize_session=False)
    )
    feeds = session.execute(
        update(Feed)
        .where(Feed.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(named) + _rowcount(feeds)


def prune_expired(session: Session, now: datetime) -> int:
    """Delete the lease rows that expired before `now`; how many."""
    result = session.execute(
        delete(Lease).where(Lease.expires_at <= now).execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def _rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0
