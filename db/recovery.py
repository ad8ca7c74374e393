"""Restart recovery: nothing accepted is ever silently dropped.

On start, every job a crash left ``queued`` or ``running`` is either handed back to the caller
to queue again (``running`` ones are first moved back to ``queued`` with a note) or, when it can
never run (its uploaded audio or parent PNG is gone, or it has killed the process too often),
marked failed with a sentence the bot can send to the person who asked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.jobs import mark_failed, requeue_interrupted
from db.leases import Claim, claim_expired
from db.models import ACTIVE_STATUSES, Job, JobStatus

MISSING_INPUTS = (
    "Riffbot restarted while this job waited, and its input (an uploaded clip or the "
    "spectrogram it was made from) is no longer available. Please start it again."
)
MAX_ATTEMPTS = 3


@dataclass
class RecoveryReport:
    """What recovery did. ``requeued`` must be submitted to the engine again, oldest first."""

    requeued: list[Job] = field(default_factory=list)
    failed: list[Job] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.requeued) + len(self.failed)


def gave_up_message(attempts: int) -> str:
    return (
        f"This job was interrupted {attempts} times while it ran, so Riffbot gave up on it. "
        "Try other settings (fewer steps, no seed image)."
    )


def recover_interrupted(
    session: Session,
    *,
    inputs_exist: Callable[[Job], bool],
    max_attempts: int = MAX_ATTEMPTS,
    claim: Claim | None = None,
) -> RecoveryReport:
    """Re-queue or fail every job left queued or running; see the module docstring.

    With ``claim`` (several processes on one database) only the jobs whose lease lapsed are
    taken, locked and made ``claim.owner``'s; jobs other live processes keep are left alone.
    """
    report = RecoveryReport()
    pending: Sequence[Job]
    if claim is None:
        pending = session.scalars(
            select(Job).where(Job.status.in_(ACTIVE_STATUSES)).order_by(Job.created_at, Job.id)
        ).all()
    else:
        pending = claim_expired(
            session, claim.owner, lease_s=claim.lease_s, now=claim.now, shards=claim.shards
        )
    for job in pending:
        if not inputs_exist(job):
            report.failed.append(mark_failed(session, job.id, MISSING_INPUTS))
        elif job.status == JobStatus.RUNNING and job.attempts >= max_attempts:
            report.failed.append(mark_failed(session, job.id, gave_up_message(job.attempts)))
        elif job.status == JobStatus.RUNNING:
            note = f"re-queued after a restart interrupted attempt {job.attempts}"
            report.requeued.append(requeue_interrupted(session, job.id, note))
        else:
            report.requeued.append(job)
    session.flush()
    return report


def files_exist_checker(
    *, data_dir: Path, shipped_seed_images: Collection[str] = ()
) -> Callable[[Job], bool]:
    """An ``inputs_exist`` for :func:`recover_interrupted` that looks at the request's files.

    A seed image or mask given by name (``og_beat``: no folder, no suffix, or one of
    ``shipped_seed_images``) always exists; anything else is a path that must still be on
    disk. A relative path counts if it exists as written (the generator opens it relative to
    the working directory, and the bot writes paths such as ``data/outputs/uploads/…`` when
    ``data_dir`` is relative) or under ``data_dir``.
    """
    shipped = set(shipped_seed_images)

    def present(reference: str | None) -> bool:
        if reference is None or reference in shipped:
            return True
        path = Path(reference)
        if len(path.parts) == 1 and not path.suffix:
            return True
        return path.exists() or (not path.is_absolute() and (data_dir / path).exists())

    def inputs_exist(job: Job) -> bool:
        request = job.request
        return present(request.get("seed_image")) and present(request.get("mask"))

    return inputs_exist
