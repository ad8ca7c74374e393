"""Command-line generations in the job history: every clip the CLI writes becomes a job.

The rows have source ``"cli"``, no Discord user (user 0), no guild, so ``riffbot show N`` and
``riffbot db history`` find them, ``riffbot replay N`` can re-render them, and the bot never
shows them to any server (its lookups are scoped to the caller's guild). Takes are recorded
like the bot records them: a set row (action ``"takes"``) whose children are the takes.

Recording must never cost the files: a database that cannot be opened is reported as a
warning after the clips are written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generation.types import ClipFiles, GenerationRequest
    from riffbot.settings import Settings

CLI_SOURCE = "cli"
CLI_USER = 0
"""Jobs from the command line have no Discord user; 0 is no snowflake Discord hands out."""


def record_clips(
    settings: Settings,
    clips: Sequence[tuple[GenerationRequest, ClipFiles]],
    *,
    model_id: str,
    parent_id: int | None = None,
    action: str | None = None,
) -> list[int]:
    """Write finished clips as done jobs and return their ids (the takes' ids for a set)."""
    from db import create_job, describe_clip, mark_done, mark_running, record_finished_clip
    from db.engine import Database
    from db.migrate import upgrade

    database = Database(settings.database_url)
    try:
        upgrade(database.url)
        with database.session() as session:
            parent = parent_id
            if len(clips) > 1:
                first = clips[0][0]
                row = create_job(
                    session,
                    first,
                    user_id=CLI_USER,
                    model_id=model_id,
                    source=CLI_SOURCE,
                    parent_id=parent_id,
                    action=action or "takes",
                )
                mark_running(session, row.id)
                files = clips[0][1]
                mark_done(
                    session,
                    row.id,
                    describe_clip(files),
                    data_dir=settings.data_dir,
                    duration_s=files.duration_s,
                )
                parent, action = row.id, "take"
            ids = []
            for request, files in clips:
                job = record_finished_clip(
                    session,
                    request,
                    files,
                    data_dir=settings.data_dir,
                    user_id=CLI_USER,
                    model_id=model_id,
                    source=CLI_SOURCE,
                    parent_id=parent,
                    action=action,
                )
                ids.append(job.id)
            return ids
    finally:
        database.dispose()


def record_or_warn(
    settings: Settings,
    clips: Sequence[tuple[GenerationRequest, ClipFiles]],
    *,
    model_id: str,
    parent_id: int | None = None,
    action: str | None = None,
) -> list[int]:
    """``record_clips``, printing the job ids, or a warning (the files are already written)."""
    try:
        ids = record_clips(settings, clips, model_id=model_id, parent_id=parent_id, action=action)
    except Exception as error:  # the clips are written; the history is a convenience
        print(f"warning: the clips were not added to the job history: {error}", file=sys.stderr)
        return []
    for job_id in ids:
        print(f"job #{job_id} in the history (riffbot show {job_id})")
    return ids
