"""Whose jobs a caller may name: the across-servers rule, in one place.

Job ids are sequential, so every id is guessable; what keeps one server's prompts, files and
running jobs out of another's reach is that every way of naming a job (a command, a button, a
reaction, a select, a modal) resolves it through :func:`find_job`. A job belongs to the server
it was made in, and a job made in a DM belongs to its user. A job outside the caller's scope
is answered exactly like one that does not exist, so not even its existence leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from bot.requests import parse_job_ref
from bot.store import JobRecord, JobStore


@dataclass(frozen=True)
class Scope:
    """The caller's server, or (``guild_id is None``) the caller's own DM jobs."""

    guild_id: int | None
    user_id: int

    @classmethod
    def of(cls, interaction: discord.Interaction[Any]) -> Scope:
        return cls(interaction.guild_id, interaction.user.id)

    def holds(self, job: JobRecord) -> bool:
        if self.guild_id is not None:
            return job.guild_id == self.guild_id
        return job.guild_id is None and job.user_id == self.user_id


def no_such_job(text: str) -> str:
    """The one sentence for a job that does not exist *or* is not the caller's to see."""
    job_id = parse_job_ref(text)
    if job_id is not None:
        return f"There is no job #{job_id}."
    shown = discord.utils.escape_mentions(discord.utils.escape_markdown(text.strip()[:24]))
    return f"There is no job {shown}."


def unknown_job(text: str) -> str:
    """:func:`no_such_job` as a reply."""
    return f"⚠️ {no_such_job(text)}"


async def find_job(store: JobStore, text: str, scope: Scope) -> JobRecord | None:
    """The job ``text`` names (``#12``, ``12``) if it exists and is in ``scope``."""
    job_id = parse_job_ref(text)
    if job_id is None:
        return None
    job = await store.get_job(job_id)
    return job if job is not None and scope.holds(job) else None


async def recent_in_scope(
    store: JobStore, user_id: int, scope: Scope, *, limit: int = 10
) -> list[JobRecord]:
    """``user_id``'s newest jobs that the caller may see: made in this server, or the caller's
    own DM jobs (nobody sees someone else's DMs)."""
    if scope.guild_id is None and user_id != scope.user_id:
        return []
    return await store.recent_jobs(user_id, limit, guild_id=scope.guild_id)


async def active_in_scope(store: JobStore, scope: Scope) -> list[JobRecord]:
    return [job for job in await store.active_jobs() if scope.holds(job)]
