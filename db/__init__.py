"""Riffbot's history: SQLAlchemy 2.0 models, the job state machine, queries, migrations.

No Discord and no tensors in here. One function per query, written for a sync ``Session``;
the bot awaits the same function on the async (aiosqlite) engine::

    database = Database(settings.database_url)   # one per process, no global
    upgrade(database.url)                        # on start: migrate, or DatabaseTooNew
    job = await database.run(create_job, request, user_id=..., model_id=...)  # commits
    runner.render(request, job_id=format_job_id(job.id), ...)   # only after the commit
    await database.run(mark_running, job.id)
    outputs = await asyncio.to_thread(describe_clip, files)      # hashing is blocking I/O
    await database.run(mark_done, job.id, outputs, data_dir=settings.data_dir,
                       timings=files.timings, duration_s=files.duration_s)

    with database.session() as s:                # CLI: one committed transaction
        jobs = recent_jobs(s, user_id, limit=10)

Public API (all re-exported here):

- Engines (``db.engine``): ``Database(url)`` with ``.engine``, ``.async_engine``,
  ``.session()``, ``.async_session()``, ``await .run(fn, *a, **kw)``, ``.call(fn, ...)``,
  ``.dispose()``, ``await .aclose()``; ``make_engines(url) -> (Engine,
  AsyncEngine)``, ``make_sync_engine``, ``make_async_engine``, ``sync_url``, ``async_url``,
  ``safe_url`` (password hidden).
- Migrations (``db.migrate``): ``upgrade(url) -> revision``, ``check(url)`` (drift),
  ``head_revision()``, ``current_revisions(url)``, ``DatabaseTooNew``.
- Models (``db.models``): ``Job``, ``OutputFile``, ``Post``, ``Trigger``, ``RadioSession``,
  ``RadioClip``, ``GuildSettings``; enums ``JobKind`` (= ``generation.types.Mode``),
  ``JobStatus``, ``OutputRole``, ``TriggerSource``, ``RadioStatus``; ``format_job_id(123) ->
  "#123"``, ``parse_job_id("#123") -> 123`` (``ValueError`` with a user-facing sentence).
- Jobs (``db.jobs``): ``create_job(s, request, *, user_id, model_id, model_revision=None,
  guild_id=None, channel_id=None, parent_id=None, partner_id=None, action=None,
  priority=0) -> Job``; ``mark_running(s, id)``, ``mark_done(s, id, outputs, *, data_dir,
  timings, duration_s)``, ``mark_failed(s, id, error)``, ``mark_cancelled(s, id, reason)``,
  ``requeue_interrupted(s, id, note)``; ``transition``, ``is_legal``, ``IllegalTransition``,
  ``JobNotFound``; ``OutputSpec``, ``describe_clip(ClipFiles)``, ``describe_output``,
  ``clip_files(job, data_dir) -> ClipFiles | None``.
- Recovery (``db.recovery``): ``recover_interrupted(s, *, inputs_exist, max_attempts=3) ->
  RecoveryReport(requeued, failed)``;
  ``files_exist_checker(data_dir=..., shipped_seed_images=...)``.
- Queries (``db.queries``): ``get_job``, ``job_by_message``, ``recent_jobs``, ``lineage``,
  ``queue_position``, ``active_count``, ``active_counts``, ``queue_length``,
  ``jobs_with_status``, ``stats -> JobStats``, ``record_post``, ``posts_for_job``,
  ``record_trigger``, ``triggers_for_message``; the ``*_stmt`` builders behind them.
- Radio (``db.radio``): ``start_radio_session``, ``load_radio_session``,
  ``update_radio_session``, ``stop_radio_session``, ``active_radio_sessions``,
  ``active_radio_session``, ``add_radio_clip``, ``radio_clips``.
- Guilds (``db.guilds``): ``get_guild_settings``, ``update_guild_settings``.
- Preferences (``db.preferences``): ``get_preferences``, ``update_preferences``.
- Retention (``db.retention``): ``cleanup_outputs(s, *, older_than, data_dir) ->
  CleanupReport`` (files are deleted when the transaction commits).

Async access needs SQLAlchemy's ``asyncio`` extra (greenlet); sync access does not.
"""

from __future__ import annotations

from db.engine import (
    Database,
    async_url,
    make_async_engine,
    make_engines,
    make_sync_engine,
    safe_url,
    sync_url,
)
from db.guilds import get_guild_settings, update_guild_settings
from db.jobs import (
    IllegalTransition,
    JobNotFound,
    OutputSpec,
    clip_files,
    create_job,
    describe_clip,
    describe_output,
    is_legal,
    mark_cancelled,
    mark_done,
    mark_failed,
    mark_running,
    record_finished_clip,
    requeue_interrupted,
    transition,
)
from db.migrate import DatabaseTooNew, upgrade
from db.models import (
    GuildSettings,
    Job,
    JobKind,
    JobStatus,
    OutputFile,
    OutputRole,
    Post,
    RadioClip,
    RadioSession,
    RadioStatus,
    Trigger,
    TriggerSource,
    format_job_id,
    parse_job_id,
)
from db.preferences import get_preferences, update_preferences
from db.queries import (
    JobStats,
    active_count,
    active_counts,
    get_job,
    job_by_message,
    jobs_with_status,
    lineage,
    posts_for_job,
    queue_length,
    queue_position,
    recent_jobs,
    record_post,
    record_status_message,
    record_trigger,
    stats,
    triggers_for_message,
)
from db.radio import (
    RadioSessionNotFound,
    active_radio_session,
    active_radio_sessions,
    add_radio_clip,
    load_radio_session,
    radio_clips,
    start_radio_session,
    stop_radio_session,
    update_radio_session,
)
from db.recovery import RecoveryReport, files_exist_checker, recover_interrupted
from db.retention import CleanupReport, cleanup_outputs, cleanup_uploads

__all__ = [
    "CleanupReport",
    "Database",
    "DatabaseTooNew",
    "GuildSettings",
    "IllegalTransition",
    "Job",
    "JobKind",
    "JobNotFound",
    "JobStats",
    "JobStatus",
    "OutputFile",
    "OutputRole",
    "OutputSpec",
    "Post",
    "RadioClip",
    "RadioSession",
    "RadioSessionNotFound",
    "RadioStatus",
    "RecoveryReport",
    "Trigger",
    "TriggerSource",
    "active_count",
    "active_counts",
    "active_radio_session",
    "active_radio_sessions",
    "add_radio_clip",
    "async_url",
    "cleanup_outputs",
    "cleanup_uploads",
    "clip_files",
    "create_job",
    "describe_clip",
    "describe_output",
    "files_exist_checker",
    "format_job_id",
    "get_guild_settings",
    "get_job",
    "get_preferences",
    "is_legal",
    "job_by_message",
    "jobs_with_status",
    "lineage",
    "load_radio_session",
    "make_async_engine",
    "make_engines",
    "make_sync_engine",
    "mark_cancelled",
    "mark_done",
    "mark_failed",
    "mark_running",
    "parse_job_id",
    "posts_for_job",
    "queue_length",
    "queue_position",
    "radio_clips",
    "recent_jobs",
    "record_finished_clip",
    "record_post",
    "record_status_message",
    "record_trigger",
    "recover_interrupted",
    "requeue_interrupted",
    "safe_url",
    "start_radio_session",
    "stats",
    "stop_radio_session",
    "sync_url",
    "transition",
    "triggers_for_message",
    "update_guild_settings",
    "update_preferences",
    "update_radio_session",
    "upgrade",
]
