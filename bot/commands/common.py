"""Small helpers shared by the command modules."""

import asyncio
from pathlib import Path

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


async def save_attachment(attachment: discord.Attachment, target: Path) -> None:
    """Download an upload and write it from a worker thread: uploads may be tens of MiB, and
    ``Attachment.save`` would write them on the event loop."""
    data = await attachment.read()

    def write() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    await asyncio.to_thread(write)
