"""``/queue``: what is running and waiting, with places."""

from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.replies import reply
from bot.scope import Scope, active_in_scope
from bot.services import Services
from generation.types import Mode


def register(tree: app_commands.CommandTree, services: Services) -> None:
    @tree.command(name="queue", description="What is running and waiting")
    async def queue(interaction: discord.Interaction[Any]) -> None:
        active = [
            job
            for job in await active_in_scope(services.store, Scope.of(interaction))
            if job.request.mode != Mode.RADIO
        ]
        entries = [(job, services.runner.position(job.id)) for job in active]
        entries.sort(key=lambda entry: (entry[1] is None, entry[1] or 0, int(entry[0].id)))
        await reply(interaction, messages.queue_text(entries, interaction.user.id))
