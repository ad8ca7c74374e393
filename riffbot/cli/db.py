"""Database commands: ``riffbot db upgrade``, ``riffbot db history``, ``riffbot db cleanup``
and ``riffbot show JOB_ID``.

``upgrade`` and ``cleanup`` migrate the database first (``upgrade`` creates it), as the bot
does on start. ``show`` and ``history`` only read: they never create a database, and say so
when there is none.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from riffbot.cli.errors import RUNTIME, USAGE, fail

if TYPE_CHECKING:
    from db.engine import Database
    from db.models import Job
    from riffbot.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("db", help="the job history database")
    commands = group.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")

    upgrade = commands.add_parser("upgrade", help="migrate the database to the newest schema")
    upgrade.set_defaults(func=cmd_upgrade)

    history = commands.add_parser(
        "history", help="recent jobs, newest first (command-line jobs say 'cli')"
    )
    history.add_argument("--user", type=int, help="only this Discord user's (default: everyone's)")
    history.add_argument("--limit", type=_positive_int, default=20, help="at most N jobs")
    history.set_defaults(func=cmd_history)

    cleanup = commands.add_parser(
        "cleanup", help="delete output files and uploads older than the retention setting"
    )
    cleanup.add_argument(
        "--days", type=int, default=None, help="override RIFFBOT_OUTPUT_RETENTION_DAYS"
    )
    cleanup.set_defaults(func=cmd_cleanup)

    show = sub.add_parser("show", help="everything about one job: parameters, lineage, files")
    show.add_argument("job_id", help="job id, e.g. 42 or #42")
    show.set_defaults(func=cmd_show)

    replay = sub.add_parser("replay", help="render a job from the history again, exactly")
    replay.add_argument("job_id", help="job id, e.g. 42 or #42")
    replay.add_argument("--model", help="model (default: the settings' model)")
    replay.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    replay.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    replay.set_defaults(func=cmd_replay)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def open_database(settings: Settings, *, create: bool = True) -> Database:
    """The migrated database, or a one-line ``CliError`` saying why it cannot be used.

    ``create=False`` (read-only commands) refuses a SQLite file that does not exist instead of
    silently making an empty one where the operator did not expect it.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from db.engine import Database, safe_url, sqlite_path
    from db.migrate import DatabaseTooNew, upgrade

    url = settings.database_url
    try:
        path = sqlite_path(url)
    except SQLAlchemyError as error:
        fail(f"RIFFBOT_DATABASE_URL is not a database URL ({error})")
    if path is not None and not create and not path.exists():
        fail(f"there is no database at {path} (nothing has run with these settings yet)", code=1)
    if path is not None and path.is_dir():
        fail(f"the database {path} is a folder, not a SQLite file", code=1)
    database = Database(url)
    try:
        upgrade(url)
    except DatabaseTooNew as error:
        database.dispose()
        fail(str(error), code=1)
    except (SQLAlchemyError, OSError) as error:
        database.dispose()
        cause = getattr(error, "orig", None) or error
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        fail(f"the database {safe_url(url)} cannot be used: {detail}", code=1)
    return database


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from db.engine import safe_url
    from db.migrate import head_revision

    open_database(settings).dispose()
    revision = head_revision()
    print(f"database {safe_url(settings.database_url)} is at revision {revision} (newest)")
    return 0


def _line(job: Job) -> str:
    when = job.created_at.strftime("%Y-%m-%d %H:%M")
    prompt = job.prompt if job.end_prompt is None else f"{job.prompt} -> {job.end_prompt}"
    prompt = prompt.replace("\n", " ")
    if len(prompt) > 60:
        prompt = prompt[:59] + "…"
    where = "cli" if job.source == "cli" else f"user {job.user_id}"
    return (
        f"{job.display_id:>7}  {when}  {job.kind:<9} {job.status:<9} seed {job.seed:<10}  "
        f"{where:<24} {prompt}"
    )


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from db.queries import recent_jobs

    database = open_database(settings, create=False)
    try:
        with database.session() as session:
            jobs = recent_jobs(session, args.user, limit=args.limit)
    finally:
        database.dispose()
    if not jobs:
        print("no jobs yet" if args.user is None else f"no jobs for user {args.user}")
        return 0
    for job in jobs:
        print(_line(job))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from db.models import parse_job_id
    from db.queries import lineage, posts_for_job

    try:
        job_id = parse_job_id(args.job_id)
    except ValueError as error:
        fail(str(error))
    database = open_database(settings, create=False)
    try:
        with database.session() as session:
            chain = lineage(session, job_id)
            posts = posts_for_job(session, job_id) if chain else []
    finally:
        database.dispose()
    if not chain:
        fail(f"there is no job #{job_id}", code=1)
    job = chain[0]
    rows = [
        ("job", job.display_id),
        ("kind", str(job.kind)),
        ("status", str(job.status)),
        ("prompt", job.prompt),
        ("end prompt", job.end_prompt),
        ("negative", job.negative_prompt or None),
        ("seed", str(job.seed) if job.end_seed is None else f"{job.seed} -> {job.end_seed}"),
        ("alpha", f"{job.alpha:g}"),
        ("steps", str(job.steps)),
        ("guidance", f"{job.guidance:g}"),
        ("strength", f"{job.strength:g}"),
        ("scheduler", job.scheduler),
        ("seed image", job.seed_image),
        ("model", job.model_id + (f"@{job.model_revision}" if job.model_revision else "")),
        (
            "asked by",
            "the command line"
            if job.source == "cli"
            else f"user {job.user_id} in guild {job.guild_id} channel {job.channel_id}",
        ),
        ("created", job.created_at.isoformat(timespec="seconds")),
        ("started", job.started_at.isoformat(timespec="seconds") if job.started_at else None),
        ("finished", job.finished_at.isoformat(timespec="seconds") if job.finished_at else None),
        ("error", job.error),
        ("note", job.note),
        ("made by", f"{job.action} of {chain[1].display_id}" if len(chain) > 1 else job.action),
        ("lineage", " <- ".join(link.display_id for link in chain) if len(chain) > 1 else None),
        ("timings", ", ".join(f"{k} {v:.2f}s" for k, v in (job.timings or {}).items()) or None),
        (
            "files purged",
            job.outputs_purged_at.isoformat(timespec="seconds") if job.outputs_purged_at else None,
        ),
    ]
    for label, value in rows:
        if value is not None:
            print(f"{label + ':':<13} {value}")
    for output in job.outputs:
        size = f"{output.size_bytes} B, sha256 {output.sha256[:16]}…"
        print(f"{'file:':<13} {output.role:<11} {output.path} ({size})")
    for post in posts:
        print(
            f"{'post:':<13} message {post.message_id} in channel {post.channel_id} ({post.purpose})"
        )
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """The job's stored request through the same road as ``riffbot riff``: same model, seed
    and settings give the same clip; the new job records the old one as its parent."""
    from db.models import parse_job_id
    from db.queries import get_job
    from generation.types import GenerationRequest
    from riffbot.cli.generate import run_requests

    try:
        job_id = parse_job_id(args.job_id)
    except ValueError as error:
        fail(str(error), code=USAGE)
    database = open_database(settings, create=False)
    try:
        with database.session() as session:
            job = get_job(session, job_id)
            stored = dict(job.request) if job is not None else None
            model_id = job.model_id if job is not None else None
    finally:
        database.dispose()
    if stored is None:
        fail(f"there is no job #{job_id}", code=RUNTIME)
    request = GenerationRequest.from_dict(stored)
    if args.model is None and model_id is not None:
        args.model = model_id
    args.parent_job, args.job_action = job_id, "replay"
    return run_requests(args, settings, [request])


def cmd_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    from db.retention import cleanup_outputs, cleanup_uploads

    days = settings.output_retention_days if args.days is None else args.days
    if days <= 0:
        print("retention is off (0 days): nothing deleted")
        return 0
    database = open_database(settings, create=False)
    try:
        with database.session() as session:
            report = cleanup_outputs(
                session, older_than=timedelta(days=days), data_dir=settings.data_dir
            )
            uploads = cleanup_uploads(
                session, settings.outputs_dir / "uploads", older_than=timedelta(days=days)
            )
    finally:
        database.dispose()
    print(
        f"deleted {len(report.files)} files ({report.bytes_freed} bytes) of "
        f"{len(report.job_ids)} jobs; forgot {report.missing_rows} already missing; "
        f"deleted {len(uploads.files)} uploads ({uploads.bytes_freed} bytes)"
    )
    return 0
