"""Output retention: delete old jobs' files without leaving rows that point at them.

Rows are deleted in the caller's transaction and the files only once it COMMITS (a
``after_commit`` hook on the session): if the transaction rolls back, the rows and the files
both stay. A crash between commit and unlink can leave an orphan file, never a row pointing at
a missing file. Job rows themselves stay (history and lineage outlive the audio); their
``outputs_purged_at`` says the files are gone.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from db.models import ACTIVE_STATUSES, Job, OutputFile, utcnow

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    """What retention removed (or, for ``files``, will remove once the transaction commits)."""

    job_ids: list[int] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    missing_rows: int = 0
    """Rows whose file had already disappeared (any age); removed too."""


def _remove_files(paths: list[Path], data_dir: Path) -> None:
    root = data_dir.resolve()
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not delete %s: %s", path, error)
            continue
        # Remove the job's folder when it is empty, but never climb out of the data dir.
        parent = path.parent.resolve()
        if parent != root and root in parent.parents:
            with contextlib.suppress(OSError):
                parent.rmdir()


def cleanup_outputs(
    session: Session,
    *,
    older_than: timedelta,
    data_dir: Path,
    now: datetime | None = None,
) -> CleanupReport:
    """Forget and delete the files of jobs finished more than ``older_than`` ago.

    Also drops rows whose file is already missing, whatever its age. Callers skip this when
    retention is off (``output_retention_days == 0``).
    """
    cutoff = (now or utcnow()) - older_than
    report = CleanupReport()
    to_delete: list[Path] = []
    touched: dict[int, Job] = {}
    rows = session.scalars(select(OutputFile).join(Job).order_by(OutputFile.id)).all()
    for row in rows:
        job = row.job
        path = row.resolve(data_dir)
        expired = job.finished_at is not None and job.finished_at < cutoff
        exists = path.exists()
        if not expired and exists:
            continue
        if exists:
            to_delete.append(path)
            report.files.append(path)
            report.bytes_freed += row.size_bytes
        else:
            report.missing_rows += 1
        touched[job.id] = job
        session.delete(row)
    stamp = now or utcnow()
    for job in touched.values():
        job.outputs_purged_at = stamp
    report.job_ids = sorted(touched)
    session.flush()
    if to_delete:
        _after_commit(session).append((to_delete, data_dir))
    return report


def cleanup_uploads(
    session: Session,
    uploads_dir: Path,
    *,
    older_than: timedelta,
    now: datetime | None = None,
) -> CleanupReport:
    """Delete uploads (the bot's ``outputs/uploads``) older than ``older_than``.

    An upload is kept while a queued or running job still reads it, whatever its age; a
    finished job's result does not need it (remixes start from the result's own PNG).
    """
    report = CleanupReport()
    if not uploads_dir.is_dir():
        return report
    cutoff = ((now or utcnow()) - older_than).timestamp()
    active = session.scalars(select(Job.seed_image).where(Job.status.in_(ACTIVE_STATUSES)))
    in_use = {Path(spec).resolve() for spec in active if spec}
    for path in sorted(uploads_dir.iterdir()):
        try:
            stat = path.stat()
        except OSError:
            continue
        if not path.is_file() or stat.st_mtime >= cutoff or path.resolve() in in_use:
            continue
        try:
            path.unlink()
        except OSError as error:
            log.warning("could not delete upload %s: %s", path, error)
            continue
        report.files.append(path)
        report.bytes_freed += stat.st_size
    return report


_PENDING = "riffbot_pending_unlinks"


def _after_commit(session: Session) -> list[tuple[list[Path], Path]]:
    """The session's list of files to delete on commit (forgotten on rollback)."""
    pending: list[tuple[list[Path], Path]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []

        def committed(_session: Session) -> None:
            batches = list(pending)
            pending.clear()
            for paths, data_dir in batches:
                _remove_files(paths, data_dir)

        def rolled_back(_session: Session, _previous: object) -> None:
            pending.clear()

        event.listen(session, "after_commit", committed)
        event.listen(session, "after_soft_rollback", rolled_back)
    return pending
