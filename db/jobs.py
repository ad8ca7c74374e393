"""The job state machine: a job is written before it is queued and updated as it moves.

Legal moves::

    queued  -> running | cancelled | failed
    running -> done | failed | cancelled
    running -> queued           (only recovery after a crash may do this)

Anything else raises :class:`IllegalTransition`, so a bug that would, say, finish a cancelled
job or run a job twice shows up as an error instead of as a wrong history. Every function takes
a sync ``Session``; the bot runs them with ``await database.run(mark_running, job_id)``.

Order for the caller: ``create_job`` and COMMIT, then hand the job to the engine. A crash after
the commit leaves a queued row that recovery re-queues; the reverse order could lose the job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db.models import Job, JobStatus, OutputFile, OutputRole, format_job_id, utcnow
from generation.types import ClipFiles, GenerationRequest, Priority

_LEGAL: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.DONE: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
_RECOVERY_ONLY = frozenset({(JobStatus.RUNNING, JobStatus.QUEUED)})


class JobNotFound(LookupError):
    """No job with that id; the message can be shown to the user."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"There is no job {format_job_id(job_id)}.")
        self.job_id = job_id


class IllegalTransition(RuntimeError):
    """A status change the state machine does not allow."""

    def __init__(self, job_id: int | None, old: JobStatus, new: JobStatus) -> None:
        label = format_job_id(job_id) if job_id is not None else "a new job"
        super().__init__(f"Job {label} cannot go from {old} to {new}.")
        self.job_id, self.old, self.new = job_id, old, new


def is_legal(old: JobStatus, new: JobStatus, *, recovery: bool = False) -> bool:
    return new in _LEGAL[old] or (recovery and (old, new) in _RECOVERY_ONLY)


def transition(job: Job, new: JobStatus, *, recovery: bool = False) -> None:
    """Move ``job`` to ``new`` or raise ``IllegalTransition``; sets no timestamps."""
    old = JobStatus(job.status)
    if not is_legal(old, new, recovery=recovery):
        raise IllegalTransition(job.id, old, new)
    job.status = new


@dataclass(frozen=True)
class OutputSpec:
    """One finished file as stored: where it is, how big, and its content hash."""

    role: OutputRole
    path: Path
    size_bytes: int
    sha256: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_output(role: OutputRole, path: Path) -> OutputSpec:
    """Measure and hash one file (blocking I/O: the bot runs it in a thread)."""
    return OutputSpec(role, path, path.stat().st_size, sha256_file(path))


def describe_clip(files: ClipFiles) -> list[OutputSpec]:
    """All the files of a finished clip, measured and hashed (blocking I/O)."""
    specs = [
        describe_output(OutputRole.MP3, files.mp3),
        describe_output(OutputRole.RAW_PNG, files.raw_png),
        describe_output(OutputRole.PARAMS_JSON, files.params_json),
    ]
    if files.picture_png is not None:  # radio clips have none
        specs.insert(2, describe_output(OutputRole.PICTURE_PNG, files.picture_png))
    return specs


def stored_path(path: Path, data_dir: Path | None) -> str:
    """Paths inside the data directory are stored relative to it, so the folder can move."""
    if data_dir is not None:
        try:
            return path.resolve().relative_to(data_dir.resolve()).as_posix()
        except ValueError:
            pass
    return str(path.resolve())


def clip_files(job: Job, data_dir: Path) -> ClipFiles | None:
    """The job's files as the generator described them, or ``None`` unless all are recorded
    (the picture is optional: radio clips have none)."""
    paths = {out.role: out.resolve(data_dir) for out in job.outputs}
    if not set(OutputRole) - {OutputRole.PICTURE_PNG} <= set(paths):
        return None
    return ClipFiles(
        mp3=paths[OutputRole.MP3],
        raw_png=paths[OutputRole.RAW_PNG],
        picture_png=paths.get(OutputRole.PICTURE_PNG),
        params_json=paths[OutputRole.PARAMS_JSON],
        duration_s=job.duration_s or 0.0,
        timings=dict(job.timings or {}),
    )


def create_job(
    session: Session,
    request: GenerationRequest,
    *,
    user_id: int,
    model_id: str,
    model_revision: str | None = None,
    guild_id: int | None = None,
    channel_id: int | None = None,
    parent_id: int | None = None,
    partner_id: int | None = None,
    action: str | None = None,
    priority: int = Priority.INTERACTIVE,
    now: datetime | None = None,
    source: str | None = None,
) -> Job:
    """Write a queued job for ``request`` and return it with its id assigned (flushed).

    The whole request is stored as JSON; the columns are copies for reading and searching.
    Commit before queueing the job with the engine.
    """
    job = Job(
        kind=request.mode,
        status=JobStatus.QUEUED,
        priority=int(priority),
        request=request.to_dict(),
        prompt=request.start.prompt,
        end_prompt=request.end.prompt if request.end else None,
        negative_prompt=request.negative_prompt,
        seed=request.start.seed,
        end_seed=request.end.seed if request.end else None,
        alpha=request.alpha,
        steps=request.steps,
        guidance=request.start.guidance,
        strength=request.start.strength,
        scheduler=request.scheduler,
        seed_image=request.seed_image,
        model_id=model_id,
        model_revision=model_revision,
        parent_id=parent_id,
        partner_id=partner_id,
        action=action,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        source=source,
        created_at=now or utcnow(),
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def load_job(session: Session, job_id: int) -> Job:
    """The job, locked for update where the backend supports it; ``JobNotFound`` if absent."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise JobNotFound(job_id)
    return job


def mark_running(session: Session, job_id: int, *, now: datetime | None = None) -> Job:
    job = load_job(session, job_id)
    transition(job, JobStatus.RUNNING)
    job.started_at = now or utcnow()
    job.attempts = (job.attempts or 0) + 1
    return job


def mark_done(
    session: Session,
    job_id: int,
    outputs: Iterable[OutputSpec] = (),
    *,
    data_dir: Path | None = None,
    timings: Mapping[str, float] | None = None,
    duration_s: float | None = None,
    now: datetime | None = None,
) -> Job:
    """Finish a running job and record its files (see :func:`describe_clip`)."""
    job = load_job(session, job_id)
    transition(job, JobStatus.DONE)
    job.finished_at = now or utcnow()
    job.error = None
    job.timings = dict(timings) if timings is not None else None
    job.duration_s = duration_s
    existing = {out.role: out for out in job.outputs}
    for spec in outputs:
        row = existing.get(spec.role)
        if row is None:
            row = OutputFile(role=spec.role)
            job.outputs.append(row)
        row.path = stored_path(spec.path, data_dir)
        row.size_bytes = spec.size_bytes
        row.sha256 = spec.sha256
    session.flush()
    return job


def record_finished_clip(
    session: Session,
    request: GenerationRequest,
    files: ClipFiles,
    *,
    data_dir: Path,
    **job_fields: Any,
) -> Job:
    """A clip made outside the bot's queue (the command line, the web demo) as a done job:
    created, run and finished in one go, so the history reads it like any other clip.
    ``job_fields`` are :func:`create_job`'s."""
    job = create_job(session, request, **job_fields)
    mark_running(session, job.id)
    return mark_done(
        session,
        job.id,
        describe_clip(files),
        data_dir=data_dir,
        timings=dict(files.timings),
        duration_s=files.duration_s,
    )


def mark_failed(session: Session, job_id: int, error: str, *, now: datetime | None = None) -> Job:
    """Fail a queued or running job; ``error`` is what the person who asked will read."""
    job = load_job(session, job_id)
    transition(job, JobStatus.FAILED)
    job.finished_at = now or utcnow()
    job.error = error
    return job


def mark_cancelled(
    session: Session, job_id: int, reason: str | None = None, *, now: datetime | None = None
) -> Job:
    job = load_job(session, job_id)
    transition(job, JobStatus.CANCELLED)
    job.finished_at = now or utcnow()
    job.error = reason
    return job


def requeue_interrupted(session: Session, job_id: int, note: str) -> Job:
    """Put a job that a crash left running back in the queue (recovery only)."""
    job = load_job(session, job_id)
    transition(job, JobStatus.QUEUED, recovery=True)
    job.started_at = None
    job.note = note
    return job
