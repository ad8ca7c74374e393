"""The :class:`~bot.store.JobStore` the bot runs on: the history database (``db`` package).

Each method is one committed transaction on a worker thread; rows come back detached
and are turned into plain :class:`~bot.store.JobRecord`s at once, so no ORM object ever
crosses into Discord code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import asdict
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import (
    ANY_GUILD,
    TAKE,
    AnyGuild,
    GuildConfig,
    JobRecord,
    Preferences,
    Recovered,
    Status,
)
from db import (
    Database,
    JobStatus,
    clip_files,
    create_job,
    describe_clip,
    files_exist_checker,
    get_guild_settings,
    get_job,
    get_preferences,
    job_by_message,
    jobs_with_status,
    mark_cancelled,
    mark_done,
    mark_failed,
    mark_running,
    recent_jobs,
    record_post,
    record_status_message,
    record_trigger,
    recover_interrupted,
    update_guild_settings,
    update_preferences,
)
from db.jobs import OutputSpec
from db.leases import Claim, renew_leases, take_lease
from db.models import Job, Post
from generation.types import ClipFiles, GenerationRequest, InvalidRequest

P = ParamSpec("P")
T = TypeVar("T")


def _parse(job_id: str) -> int:
    return int(job_id.lstrip("#"))


def _optional(job_id: str | None) -> int | None:
    return _parse(job_id) if job_id is not None else None


def _start_if_queued(session: Session, job_id: int) -> Job | None:
    """Finishing needs RUNNING; a job can finish before its "running" write lands."""
    job = get_job(session, job_id)
    if job is not None and job.status == JobStatus.QUEUED:
        mark_running(session, job_id)
    return job


def _finish_done(
    session: Session,
    job_id: int,
    outputs: list[OutputSpec],
    data_dir: Path,
    files: ClipFiles,
) -> None:
    _start_if_queued(session, job_id)
    mark_done(
        session,
        job_id,
        outputs,
        data_dir=data_dir,
        timings=dict(files.timings),
        duration_s=files.duration_s,
    )


def _finish_failed(session: Session, job_id: int, error: str) -> None:
    job = get_job(session, job_id)
    if job is not None and not JobStatus(job.status).finished:
        mark_failed(session, job_id, error)


def _finish_cancelled(session: Session, job_id: int) -> None:
    job = get_job(session, job_id)
    if job is not None and not JobStatus(job.status).finished:
        mark_cancelled(session, job_id, "cancelled")


def _run_if_queued(session: Session, job_id: int) -> None:
    _start_if_queued(session, job_id)


def _forget_post(session: Session, message_id: int) -> None:
    post = session.get(Post, message_id)
    if post is not None:
        session.delete(post)


class DbStore:
    """``JobStore`` over ``db.Database``; ``data_dir`` anchors the relative output paths."""

    def __init__(
        self,
        database: Database,
        *,
        data_dir: Path,
        model_id: str,
        model_revision: str | None = None,
        shipped_seed_images: Collection[str] = (),
        claim: Claim | None = None,
    ) -> None:
        """``claim`` (several bot processes on one PostgreSQL): jobs this process accepts
        carry its lease, and recovery takes only jobs whose lease lapsed (``db.leases``)."""
        self.claim = claim
        self.database = database
        self.data_dir = data_dir
        self.model_id = model_id
        self.model_revision = model_revision
        self.shipped_seed_images = tuple(shipped_seed_images)

    async def _run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """One committed transaction on a worker thread (the sync engine, so the bot does
        not depend on greenlet for SQLAlchemy's asyncio layer); the loop never waits on I/O."""
        return await asyncio.to_thread(self.database.call, fn, *args, **kwargs)

    def _record(self, job: Job) -> JobRecord:
        return JobRecord(
            id=str(job.id),
            request=GenerationRequest.from_dict(job.request),
            user_id=job.user_id,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            status=Status(JobStatus(job.status).value),
            parent_id=str(job.parent_id) if job.parent_id is not None else None,
            partner_id=str(job.partner_id) if job.partner_id is not None else None,
            action=job.action,
            error=job.error,
            files=clip_files(job, self.data_dir),
            created_at=job.created_at,
            status_message=(
                (job.status_channel_id, job.status_message_id)
                if job.status_channel_id is not None and job.status_message_id is not None
                else None
            ),
        )

    async def create_job(
        self,
        request: GenerationRequest,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        parent_id: str | None = None,
        partner_id: str | None = None,
        action: str | None = None,
    ) -> JobRecord:
        def write(session: Session) -> JobRecord:
            job = create_job(
                session,
                request,
                user_id=user_id,
                model_id=self.model_id,
                model_revision=self.model_revision,
                guild_id=guild_id,
                channel_id=channel_id,
                parent_id=_optional(parent_id),
                partner_id=_optional(partner_id),
                action=action,
            )
            if self.claim is not None:  # in the same transaction: never a job nobody keeps
                take_lease(session, job.id, self.claim.owner, lease_s=self.claim.lease_s)
            session.refresh(job)  # load defaults and the (empty) outputs while attached
            return self._record(job)

        return await self._run(write)

    async def get_job(self, job_id: str) -> JobRecord | None:
        try:
            number = _parse(job_id)
        except ValueError:
            return None
        if not 0 < number < 2**63:
            return None

        def read(session: Session) -> JobRecord | None:
            job = get_job(session, number)
            return self._record(job) if job is not None else None

        return await self._run(read)

    async def job_for_message(self, message_id: int) -> JobRecord | None:
        def read(session: Session) -> JobRecord | None:
            job = job_by_message(session, message_id)
            return self._record(job) if job is not None else None

        return await self._run(read)

    async def recent_jobs(
        self, user_id: int, limit: int = 10, *, guild_id: AnyGuild = ANY_GUILD
    ) -> list[JobRecord]:
        def read(session: Session) -> list[JobRecord]:
            jobs = (
                recent_jobs(session, user_id, limit=limit)
                if guild_id == ANY_GUILD
                else recent_jobs(
                    session, user_id, limit=limit, guild_id=guild_id, dm=guild_id is None
                )
            )
            return [self._record(job) for job in jobs]

        return await self._run(read)

    async def active_jobs(self) -> list[JobRecord]:
        def read(session: Session) -> list[JobRecord]:
            jobs = jobs_with_status(session, JobStatus.QUEUED, JobStatus.RUNNING)
            return [self._record(job) for job in jobs]

        return await self._run(read)

    async def mark_running(self, job_id: str) -> None:
        await self._run(_run_if_queued, _parse(job_id))

    async def mark_done(self, job_id: str, files: ClipFiles) -> None:
        outputs = await asyncio.to_thread(describe_clip, files)  # hashing is blocking I/O
        await self._run(_finish_done, _parse(job_id), outputs, self.data_dir, files)

    async def mark_failed(self, job_id: str, error: str) -> None:
        await self._run(_finish_failed, _parse(job_id), error)

    async def mark_cancelled(self, job_id: str) -> None:
        await self._run(_finish_cancelled, _parse(job_id))

    async def record_post(
        self, job_id: str, *, message_id: int, channel_id: int, guild_id: int | None
    ) -> None:
        await self._run(
            record_post,
            message_id=message_id,
            channel_id=channel_id,
            job_id=_parse(job_id),
            guild_id=guild_id,
        )

    async def forget_post(self, message_id: int) -> None:
        await self._run(_forget_post, message_id)

    async def record_status_message(self, job_id: str, *, channel_id: int, message_id: int) -> None:
        await self._run(
            record_status_message, _parse(job_id), channel_id=channel_id, message_id=message_id
        )

    async def record_trigger(
        self,
        *,
        source: str,
        key: str,
        message_id: int,
        channel_id: int | None,
        guild_id: int | None,
        user_id: int,
        source_job_id: str | None,
        job_id: str | None,
    ) -> None:
        await self._run(
            record_trigger,
            message_id=message_id,
            user_id=user_id,
            source=source,
            key=key,
            job_id=_optional(job_id),
            source_job_id=_optional(source_job_id),
            channel_id=channel_id,
            guild_id=guild_id,
        )

    async def guild_config(self, guild_id: int) -> GuildConfig:
        row = await self._run(get_guild_settings, guild_id)
        return GuildConfig(
            blocked_words=tuple(row.blocked_words or ()),
            max_active_per_user=row.max_jobs_per_user,
            max_queue_length=row.max_queue_length,
            default_steps=row.default_steps,
            default_takes=row.default_takes,
        )

    async def save_guild_config(
        self, guild_id: int, config: GuildConfig, *, updated_by: int
    ) -> None:
        try:
            await self._run(
                lambda session: update_guild_settings(
                    session,
                    guild_id,
                    updated_by=updated_by,
                    blocked_words=list(config.blocked_words),
                    max_jobs_per_user=config.max_active_per_user,
                    max_queue_length=config.max_queue_length,
                    default_steps=config.default_steps,
                    default_takes=config.default_takes,
                )
            )
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def renew_leases(self) -> int:
        """Keep this process's active jobs its own; a no-op without ``claim``."""
        if self.claim is None:
            return 0
        return await self._run(renew_leases, self.claim.owner, lease_s=self.claim.lease_s)

    async def preferences(self, user_id: int) -> Preferences:
        row = await self._run(get_preferences, user_id)
        return Preferences(
            takes=row.takes,
            length_clips=row.length_clips,
            steps=row.steps,
            guidance=row.guidance,
            scheduler=row.scheduler,
            private=row.private,
        )

    async def save_preferences(self, user_id: int, preferences: Preferences) -> None:
        try:
            await self._run(
                lambda session: update_preferences(session, user_id, **asdict(preferences))
            )
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def takes_of(self, set_id: str, guild_id: int | None) -> list[JobRecord]:
        try:
            number = _parse(set_id)
        except ValueError:
            return []

        def read(session: Session) -> list[JobRecord]:
            parent = get_job(session, number)
            if parent is None or parent.guild_id != guild_id:
                return []
            rows = session.scalars(
                select(Job).where(Job.parent_id == number, Job.action == TAKE).order_by(Job.id)
            )
            return [self._record(job) for job in rows]

        return await self._run(read)

    async def recover(self) -> Recovered:
        checker = files_exist_checker(
            data_dir=self.data_dir, shipped_seed_images=self.shipped_seed_images
        )

        def run(session: Session) -> Recovered:
            report = recover_interrupted(session, inputs_exist=checker, claim=self.claim)
            session.flush()
            for job in (*report.requeued, *report.failed):
                session.refresh(job)
            return Recovered(
                requeued=[self._record(job) for job in report.requeued],
                failed=[self._record(job) for job in report.failed],
            )

        return await self._run(run)
