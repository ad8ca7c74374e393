"""The tables: jobs and their files, posts, triggers, radio sessions and guild settings.

A job row holds everything needed to make its clip again: the full ``GenerationRequest`` as JSON
(the source of truth, rebuilt with :meth:`Job.generation_request`) plus plain columns copied from
it (prompt, seeds, alpha, steps, ...) so that history, search and stats need no JSON functions.
The prompt columns carry no database index on purpose: prompts may be 10,000 characters long,
which PostgreSQL's btree indexes refuse.

Discord ids are 64-bit, seeds go up to 2**32 - 1: both are ``BigInteger`` so PostgreSQL's
32-bit ``INTEGER`` never truncates them. Timestamps are stored in UTC and always read back
timezone-aware. Secrets (tokens) have no column anywhere.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from generation.types import GenerationRequest, Mode

JobKind = Mode
"""A job's kind is the generation mode that made it (riff, blend, ..., radio)."""

JOB_ID_PREFIX = "#"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class OutputRole(enum.StrEnum):
    """The files a finished job leaves, matching ``generation.types.ClipFiles``."""

    MP3 = "mp3"
    RAW_PNG = "raw_png"
    PICTURE_PNG = "picture_png"
    PARAMS_JSON = "params_json"


class TriggerSource(enum.StrEnum):
    REACTION = "reaction"
    BUTTON = "button"
    SELECT = "select"
    MODAL = "modal"


class RadioStatus(enum.StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    STOPPED = "stopped"


ACTIVE_RADIO_STATUSES = (RadioStatus.PLAYING, RadioStatus.PAUSED)


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_job_id(job_id: int) -> str:
    """How people see a job id: ``#123``."""
    return f"{JOB_ID_PREFIX}{job_id}"


def parse_job_id(text: str | int) -> int:
    """Read a job id as people type it: ``#123``, ``123`` or `` # 123 ``.

    Raises ``ValueError`` with a sentence that can be shown to the user.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        cleaned = str(text).strip().removeprefix(JOB_ID_PREFIX).strip()
        if not cleaned.isascii() or not cleaned.isdigit():
            raise ValueError(f"{str(text)[:40]!r} is not a job id; job ids look like #123.")
        value = int(cleaned)
    if value <= 0 or value >= 2**63:
        raise ValueError(f"{value} is not a job id; job ids look like #123.")
    return value


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on every backend.

    SQLite keeps no zone, so a naive value read back would compare wrongly with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM type): adding a value never needs a migration
    # that alters a type, and SQLite and PostgreSQL store them the same way.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[Mode] = mapped_column(_enum(Mode, "job_kind"))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)

    # The request, whole, and the parameters people search and read, copied from it.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    prompt: Mapped[str] = mapped_column(Text)
    end_prompt: Mapped[str | None] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    end_seed: Mapped[int | None] = mapped_column(BigInteger)
    alpha: Mapped[float] = mapped_column(Float, default=0.0)
    steps: Mapped[int] = mapped_column(Integer)
    guidance: Mapped[float] = mapped_column(Float)
    strength: Mapped[float] = mapped_column(Float)
    scheduler: Mapped[str] = mapped_column(String(32))
    seed_image: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str | None] = mapped_column(String(100))

    # Lineage: the job this one was made from, the second parent of a blend, and how.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    action: Mapped[str | None] = mapped_column(String(32))

    # Who asked, and where.
    user_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    status_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    """The one live status message, so a restarted bot edits it instead of posting anew."""
    source: Mapped[str | None] = mapped_column(String(16))
    """Where the job was asked for: ``"cli"`` for the command line; ``None`` means Discord."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    """Shown to the person who asked; never a traceback."""
    note: Mapped[str | None] = mapped_column(Text)
    """Operational remarks, e.g. that a restart re-queued the job."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times the job started running; a job that keeps killing the process stops."""
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON)
    duration_s: Mapped[float | None] = mapped_column(Float)
    outputs_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when retention deleted the files; the row (and its parameters) stays."""
    owner: Mapped[str | None] = mapped_column(String(200))
    """The bot process looking after the job while it is active (see ``db.leases``)."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The owner renews this while it lives; once past, another process may claim the job."""

    outputs: Mapped[list[OutputFile]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OutputFile.role",
    )

    @property
    def display_id(self) -> str:
        return format_job_id(self.id)

    def generation_request(self) -> GenerationRequest:
        """The request exactly as it was accepted."""
        return GenerationRequest.from_dict(self.request)

    def output(self, role: OutputRole) -> OutputFile | None:
        return next((out for out in self.outputs if out.role == role), None)

    def __repr__(self) -> str:
        return f"<Job {self.display_id} {self.kind} {self.status}>"


class OutputFile(Base):
    __tablename__ = "output_files"
    __table_args__ = (UniqueConstraint("job_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    role: Mapped[OutputRole] = mapped_column(_enum(OutputRole, "output_role"))
    path: Mapped[str] = mapped_column(Text)
    """Relative to the data directory when the file lives inside it, absolute otherwise."""
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="outputs")

    def resolve(self, data_dir: Path) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else data_dir / path


class Post(Base):
    """A Discord message that shows a job, so reactions and buttons on it find the job."""

    __tablename__ = "posts"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default="result")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Trigger(Base):
    """A reaction or component press that asked for work, and the job it made (if any)."""

    __tablename__ = "triggers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[TriggerSource] = mapped_column(_enum(TriggerSource, "trigger_source"))
    key: Mapped[str] = mapped_column(String(100))
    """The emoji (``🔁`` or ``<:name:id>``) or the component's ``custom_id``."""
    source_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RadioSession(Base):
    """Where a radio plays and where its music is, enough to resume it after a restart."""

    __tablename__ = "radio_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    voice_channel_id: Mapped[int] = mapped_column(BigInteger)
    text_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    prompt: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    alpha: Mapped[float] = mapped_column(Float, default=0.0)
    target_prompt: Mapped[str | None] = mapped_column(Text)
    """The prompt being morphed into (the segment's end), if a morph is under way."""
    target_seed: Mapped[int | None] = mapped_column(BigInteger)
    seed_image: Mapped[str | None] = mapped_column(Text)
    queued_prompts: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Free-form controller state (steps, strength, ...) that needs no column of its own."""
    started_by: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RadioStatus] = mapped_column(
        _enum(RadioStatus, "radio_status"), default=RadioStatus.PLAYING
    )
    stop_reason: Mapped[str | None] = mapped_column(Text)
    now_playing_message_id: Mapped[int | None] = mapped_column(BigInteger)
    """The now-playing message in ``text_channel_id``, edited at each clip (across restarts)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RadioClip(Base):
    __tablename__ = "radio_clips"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("radio_sessions.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GuildSettings(Base):
    """Per-guild overrides; ``None`` means "use the bot-wide setting"."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    default_steps: Mapped[int | None] = mapped_column(Integer)
    default_takes: Mapped[int | None] = mapped_column(Integer)
    default_seed_image: Mapped[str | None] = mapped_column(String(200))
    max_jobs_per_user: Mapped[int | None] = mapped_column(Integer)
    max_queue_length: Mapped[int | None] = mapped_column(Integer)
    blocked_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    radio_role_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    """The radio's DJ roles: their members steer, skip, re-seed and set the volume without a
    vote and may stop it. Empty: every listener is a DJ (the radio is open)."""
    radio_volume: Mapped[int | None] = mapped_column(Integer)
    """The radio's volume in percent (``None``: 100)."""
    radio_always_on: Mapped[bool | None] = mapped_column(Boolean)
    """24/7: stay in an empty voice channel (``None``/False: pause, then leave)."""
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UserPreferences(Base):
    """One person's defaults for requests; ``None`` means "use the server's or the bot's"."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    takes: Mapped[int | None] = mapped_column(Integer)
    length_clips: Mapped[int | None] = mapped_column(Integer)
    steps: Mapped[int | None] = mapped_column(Integer)
    guidance: Mapped[float | None] = mapped_column(Float)
    scheduler: Mapped[str | None] = mapped_column(String(32))
    private: Mapped[bool | None] = mapped_column(Boolean)
    """Results shown only to the person who asked (ephemeral) instead of in the channel."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
