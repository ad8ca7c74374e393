"""Read and record: every query the bot and the CLI need, written once.

Each query is a ``select()`` built by a ``*_stmt`` function and run by a plain function that
takes a sync ``Session``. The CLI calls those directly; the bot awaits the very same function on
the async engine with ``await database.run(get_job, 42)`` (``AsyncSession.run_sync`` under the
hood), so there is no second, async copy to drift out of step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from db.models import (
    ACTIVE_STATUSES,
    Job,
    JobStatus,
    Post,
    Trigger,
    TriggerSource,
)

# --- statements ----------------------------------------------------------------------


def job_stmt(job_id: int) -> Select[Job]:
    return select(Job).where(Job.id == job_id)


def job_by_message_stmt(message_id: int) -> Select[Job]:
    return select(Job).join(Post, Post.job_id == Job.id).where(Post.message_id == message_id)


def recent_jobs_stmt(
    user_id: int | None,
    *,
    limit: int = 10,
    guild_id: int | None = None,
    dm: bool = False,
    before_id: int | None = None,
) -> Select[Job]:
    """``user_id`` ``None`` is everyone (the operator's CLI); ``guild_id`` keeps one server's
    jobs; ``dm`` keeps only jobs made in DMs."""
    stmt = select(Job) if user_id is None else select(Job).where(Job.user_id == user_id)
    if dm:
        stmt = stmt.where(Job.guild_id.is_(None))
    elif guild_id is not None:
        stmt = stmt.where(Job.guild_id == guild_id)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    return stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)


def lineage_stmt(job_id: int, *, max_depth: int = 100) -> Select[Job]:
    """The job and its ancestors through ``parent_id``, nearest first (a recursive CTE)."""
    chain = (
        select(Job.id.label("id"), Job.parent_id.label("parent_id"), literal(0).label("depth"))
        .where(Job.id == job_id)
        .cte("lineage", recursive=True)
    )
    step = select(Job.id, Job.parent_id, (chain.c.depth + 1).label("depth")).join(
        chain, Job.id == chain.c.parent_id
    )
    chain = chain.union_all(step.where(chain.c.depth < max_depth))
    return select(Job).join(chain, Job.id == chain.c.id).order_by(chain.c.depth)


def jobs_with_status_stmt(*statuses: JobStatus) -> Select[Job]:
    return select(Job).where(Job.status.in_(statuses)).order_by(Job.created_at, Job.id)


def queued_ahead_stmt(job: Job) -> Select[int]:
    """Queued jobs created before ``job`` (ties broken by id), counted."""
    earlier = (Job.created_at < job.created_at) | (
        (Job.created_at == job.created_at) & (Job.id < job.id)
    )
    return select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED, earlier)


def active_counts_stmt(user_ids: Sequence[int] | None = None) -> Select[int, int]:
    stmt = (
        select(Job.user_id, func.count())
        .where(Job.status.in_(ACTIVE_STATUSES))
        .group_by(Job.user_id)
    )
    if user_ids is not None:
        stmt = stmt.where(Job.user_id.in_(user_ids))
    return stmt


def count_stmt(*statuses: JobStatus) -> Select[int]:
    return select(func.count()).select_from(Job).where(Job.status.in_(statuses))


# --- lookups -------------------------------------------------------------------------


def get_job(session: Session, job_id: int) -> Job | None:
    return session.scalars(job_stmt(job_id)).one_or_none()


def job_by_message(session: Session, message_id: int) -> Job | None:
    """The job a bot message shows (result post, progress message, radio save)."""
    return session.scalars(job_by_message_stmt(message_id)).one_or_none()


def recent_jobs(
    session: Session,
    user_id: int | None,
    *,
    limit: int = 10,
    guild_id: int | None = None,
    dm: bool = False,
    before_id: int | None = None,
) -> list[Job]:
    """A user's jobs (everyone's for ``None``), newest first; ``before_id`` pages back."""
    stmt = recent_jobs_stmt(user_id, limit=limit, guild_id=guild_id, dm=dm, before_id=before_id)
    return list(session.scalars(stmt).all())


def lineage(session: Session, job_id: int, *, max_depth: int = 100) -> list[Job]:
    """``[job, parent, grandparent, ...]``; empty when the job does not exist."""
    return list(session.scalars(lineage_stmt(job_id, max_depth=max_depth)).all())


def jobs_with_status(session: Session, *statuses: JobStatus) -> list[Job]:
    return list(session.scalars(jobs_with_status_stmt(*statuses)).all())


def queue_position(session: Session, job_id: int) -> int | None:
    """1-based place among queued jobs by age, 0 while running, ``None`` otherwise.

    This is the order jobs were accepted in; the engine's fair scheduler may run them in a
    different order, so prefer ``JobRunner.position`` while the engine knows the job.
    """
    job = get_job(session, job_id)
    if job is None:
        return None
    if job.status == JobStatus.RUNNING:
        return 0
    if job.status != JobStatus.QUEUED:
        return None
    return int(session.scalar(queued_ahead_stmt(job)) or 0) + 1


def active_count(session: Session, user_id: int) -> int:
    """The user's queued plus running jobs (for the per-user limit)."""
    return active_counts(session, [user_id]).get(user_id, 0)


def active_counts(session: Session, user_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Queued plus running jobs per user (users with none are absent)."""
    return {int(user): int(count) for user, count in session.execute(active_counts_stmt(user_ids))}


def queue_length(session: Session) -> int:
    """Jobs waiting (queued), for the total queue cap."""
    return int(session.scalar(count_stmt(JobStatus.QUEUED)) or 0)


@dataclass(frozen=True)
class JobStats:
    total: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    users: int = 0


def stats(session: Session, *, guild_id: int | None = None, user_id: int | None = None) -> JobStats:
    """Counts by status and by kind, the total and distinct users, optionally narrowed."""
    where = []
    if guild_id is not None:
        where.append(Job.guild_id == guild_id)
    if user_id is not None:
        where.append(Job.user_id == user_id)
    by_status = {
        str(status): int(count)
        for status, count in session.execute(
            select(Job.status, func.count()).where(*where).group_by(Job.status)
        )
    }
    by_kind = {
        str(kind): int(count)
        for kind, count in session.execute(
            select(Job.kind, func.count()).where(*where).group_by(Job.kind)
        )
    }
    users = int(session.scalar(select(func.count(func.distinct(Job.user_id))).where(*where)) or 0)
    return JobStats(sum(by_status.values()), by_status, by_kind, users)


# --- records -------------------------------------------------------------------------


def record_post(
    session: Session,
    *,
    message_id: int,
    channel_id: int,
    job_id: int,
    guild_id: int | None = None,
    purpose: str = "result",
) -> Post:
    """Remember that ``message_id`` shows ``job_id``; recording it again updates it."""
    post = session.get(Post, message_id)
    if post is None:
        post = Post(message_id=message_id)
        session.add(post)
    post.channel_id = channel_id
    post.guild_id = guild_id
    post.job_id = job_id
    post.purpose = purpose
    session.flush()
    return post


def record_status_message(
    session: Session, job_id: int, *, channel_id: int, message_id: int
) -> None:
    """Where the job's live status message is (it moves if a dead token forces a new one)."""
    job = session.get(Job, job_id)
    if job is not None:
        job.status_channel_id = channel_id
        job.status_message_id = message_id
        session.flush()


def posts_for_job(session: Session, job_id: int) -> list[Post]:
    stmt = select(Post).where(Post.job_id == job_id).order_by(Post.created_at)
    return list(session.scalars(stmt).all())


def record_trigger(
    session: Session,
    *,
    message_id: int,
    user_id: int,
    source: TriggerSource | str,
    key: str,
    job_id: int | None = None,
    source_job_id: int | None = None,
    channel_id: int | None = None,
    guild_id: int | None = None,
) -> Trigger:
    """Remember a reaction or component press; ``job_id`` is the job it started, if any."""
    trigger = Trigger(
        message_id=message_id,
        user_id=user_id,
        source=TriggerSource(source),
        key=key[:100],
        job_id=job_id,
        source_job_id=source_job_id,
        channel_id=channel_id,
        guild_id=guild_id,
    )
    session.add(trigger)
    session.flush()
    return trigger


def triggers_for_message(session: Session, message_id: int) -> list[Trigger]:
    stmt = select(Trigger).where(Trigger.message_id == message_id).order_by(Trigger.id)
    return list(session.scalars(stmt).all())
