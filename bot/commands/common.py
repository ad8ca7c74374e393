"""Small helpers shared by the command modules."""

import asyncio
from pathlib import Path

import discord
from discord import app_commands

from bot.fit import CHOICE_NAME, clip
from bot.scope import Scope, recent_in_scope
from bot.services import Services


async def recent_job_choices(
    services: Services, scope: Scope, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete over the caller's recent jobs in this server, matching id or prompt text."""
    needle = current.strip().lstrip("#").casefold()
    choices = []
    for job in await recent_in_scope(services.store, scope.user_id, scope, limit=25):
        label = f"#{job.id} {job.status.value} · {job.request.start.prompt}"
        if needle and needle not in label.casefold():
            continue
        choices.append(app_commands.Choice(name=clip(label, CHOICE_NAME), value=job.id))
    return choices[:25]


async def save_attachment(attachment: discord.Attachment, target: Path) -> None:
    """Download an upload and write it from a worker thread: uploads may be tens of MiB, and
    ``Attachment.save`` would write them on the event loop."""
    data = await attachment.read()

    def write() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    await asyncio.to_thread(write)
