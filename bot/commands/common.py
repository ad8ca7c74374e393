"""Small helpers shared by the command modules."""

from typing import Any

import discord
from discord import app_commands

from bot.requests import parse_job_ref
from bot.services import Services
from bot.store import JobRecord


async def recent_job_choices(
    services: Services, user_id: int, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete over the user's recent jobs, matching id or prompt text."""
    needle = current.strip().lstrip("#").casefold()
    choices = []
    for job in await services.store.recent_jobs(user_id, limit=25):
        label = f"#{job.id} {job.status.value} · {job.request.start.prompt}"
        if needle and needle not in label.casefold():
            continue
        choices.append(app_commands.Choice(name=label[:100], value=job.id))
    return choices[:25]


async def find_job(services: Services, text: str) -> JobRecord | None:
    job_id = parse_job_ref(text)
    return await services.store.get_job(job_id) if job_id is not None else None


def user_id_of(interaction: discord.Interaction[Any]) -> int:
    return interaction.user.id
