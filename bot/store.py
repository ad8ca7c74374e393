"""What the bot needs from the history database, as one small async interface.

The bot codes against :class:`JobStore` rather than against SQLAlchemy so that the Discord layer
stays testable in milliseconds (``tests.fakes.MemoryStore``) and so that the database can change its
queries without touching a command. :mod:`bot.db_store` adapts the real ``db`` package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

from generation.types import ClipFiles, GenerationRequest

ANY_GUILD: Final = "any"
"""``recent_jobs(..., guild_id=ANY_GUILD)``: every server's jobs (tests and the operator only)."""
AnyGuild = int | None | Literal["any"]
TAKE = "take"
"""The action of a take's row: its parent is the set (the row of the ``/riff`` it came from)."""
TAKES = "takes"
"""The action of a set's row when it was asked for with more than one take."""


class Status(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (Status.QUEUED, Status.RUNNING)


@dataclass(frozen=True)
class JobRecord:
    """A job as the bot reads it back: enough to post it, remix it or explain it."""

    id: str
    request: GenerationRequest
    user_id: int
    guild_id: int | None
    channel_id: int | None
    status: Status = Status.QUEUED
    parent_id: str | None = None
    partner_id: str | None = None
    action: str | None = None
    error: str | None = None
    files: ClipFiles | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_message: tuple[int, int] | None = None
    """``(channel_id, message_id)`` of the live status message, once there is one."""

    @property
    def display_id(self) -> str:
        return f"#{self.id}"


@dataclass(frozen=True)
class GuildConfig:
    """Per-guild overrides; ``None`` means the bot-wide setting applies."""

    blocked_words: tuple[str, ...] = ()
    max_active_per_user: int | None = None
    max_queue_length: int | None = None
    default_steps: int | None = None
    default_takes: int | None = None


@dataclass(frozen=True)
class Preferences:
    """One person's defaults (``/preferences``); ``None`` falls back to the server's or bot's."""

    takes: int | None = None
    length_clips: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    private: bool | None = None


@dataclass(frozen=True)
class Recovered:
    requeued: list[JobRecord]
    failed: list[JobRecord]


class JobStore(Protocol):
    """The queries and writes the Discord layer makes; every call is short and awaited."""

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
    ) -> JobRecord: ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def job_for_message(self, message_id: int) -> JobRecord | None: ...

    async def recent_jobs(
        self, user_id: int, limit: int = 10, *, guild_id: AnyGuild = ANY_GUILD
    ) -> list[JobRecord]:
        """The user's newest jobs made in ``guild_id`` (``None``: in DMs)."""
        ...

    async def active_jobs(self) -> list[JobRecord]: ...

    async def mark_running(self, job_id: str) -> None: ...

    async def mark_done(self, job_id: str, files: ClipFiles) -> None: ...

    async def mark_failed(self, job_id: str, error: str) -> None: ...

    async def mark_cancelled(self, job_id: str) -> None: ...

    async def record_post(
        self, job_id: str, *, message_id: int, channel_id: int, guild_id: int | None
    ) -> None: ...

    async def forget_post(self, message_id: int) -> None: ...

    async def record_status_message(
        self, job_id: str, *, channel_id: int, message_id: int
    ) -> None: ...

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
    ) -> None: ...

    async def guild_config(self, guild_id: int) -> GuildConfig: ...

    async def preferences(self, user_id: int) -> Preferences: ...

    async def save_preferences(self, user_id: int, preferences: Preferences) -> None:
        """Raises ``InvalidRequest`` (with a sentence to show) for a value out of range."""
        ...

    async def takes_of(self, set_id: str, guild_id: int | None) -> list[JobRecord]:
        """The takes of a set (its children with action ``"take"``), in take order, only when
        the set belongs to ``guild_id``: one server never reaches another's jobs."""
        ...

    async def save_guild_config(
        self, guild_id: int, config: GuildConfig, *, updated_by: int
    ) -> None: ...

    async def recover(self) -> Recovered:
        """Jobs a previous process left queued or running: to submit again, or failed."""
        ...
