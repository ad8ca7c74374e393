"""Job owners and leases: several bot processes on one database, none running a job twice.

Every active job carries the process that looks after it (``owner``) and a lease
(``lease_expires_at``) that the owner renews while it lives. A process that dies stops
renewing; once its leases are past, another process claims those jobs and runs them. Claiming
uses ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two processes claiming at once
take disjoint jobs without waiting for each other; SQLite ignores the clause, and its
``BEGIN IMMEDIATE`` transactions (``db.engine``) serialise the claims instead.

With Discord shards, a process claims only the jobs of guilds on its own shards (``Shards``):
it could not post the result anywhere else.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from db.models import ACTIVE_STATUSES, Job, utcnow

DEFAULT_LEASE_S = 60.0


def process_owner() -> str:
    """A name for this process that no other (here or on another machine) will share."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Shards:
    """The Discord shards a process runs: guild ``g`` is on shard ``(g >> 22) % count``.

    Jobs without a guild (direct messages) belong to shard 0, as Discord's do.
    """

    count: int
    ids: Sequence[int]

    def clause(self) -> ColumnElement[bool]:
        # Written out: PostgreSQL has ``bigint >> integer``, not the ``bigint >> bigint``
        # that a bound parameter would make.
        shard = func.coalesce(Job.guild_id, 0).op(">>")(literal_column("22")) % self.count
        return shard.in_(list(self.ids))


@dataclass(frozen=True)
class Claim:
    """Who recovers: ``recover_interrupted(..., claim=...)`` then takes only lapsed jobs."""

    owner: str
    lease_s: float = DEFAULT_LEASE_S
    shards: Shards | None = None
    now: datetime | None = None


def take_lease(
    session: Session, job_id: int, owner: str, *, lease_s: float, now: datetime | None = None
) -> None:
    """Make ``owner`` the job's keeper (a job it just accepted)."""
    expires = (now or utcnow()) + timedelta(seconds=lease_s)
    session.execute(
        update(Job).where(Job.id == job_id).values(owner=owner, lease_expires_at=expires)
    )


def renew_leases(
    session: Session, owner: str, *, lease_s: float, now: datetime | None = None
) -> int:
    """Push back the lease of every active job ``owner`` keeps; returns how many."""
    expires = (now or utcnow()) + timedelta(seconds=lease_s)
    result = session.execute(
        update(Job)
        .where(Job.owner == owner, Job.status.in_(ACTIVE_STATUSES))
        .values(lease_expires_at=expires)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claimable_stmt(
    now: datetime, shards: Shards | None = None, limit: int | None = None
) -> Select[Job]:
    """Active jobs whose lease is past (or that never had one), oldest first, locked."""
    statement = (
        select(Job)
        .where(
            Job.status.in_(ACTIVE_STATUSES),
            or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now),
        )
        .order_by(Job.created_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if shards is not None:
        statement = statement.where(shards.clause())
    return statement


def claim_expired(
    session: Session,
    owner: str,
    *,
    lease_s: float,
    now: datetime | None = None,
    shards: Shards | None = None,
    limit: int | None = None,
) -> list[Job]:
    """Claim the jobs nobody keeps any more; they are ``owner``'s until its lease lapses."""
    now = now or utcnow()
    jobs = list(session.scalars(claimable_stmt(now, shards, limit)).all())
    expires = now + timedelta(seconds=lease_s)
    for job in jobs:
        job.owner = owner
        job.lease_expires_at = expires
    session.flush()
    return jobs
