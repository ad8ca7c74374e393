"""``/show job``: re-post an earlier result with working buttons."""

from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.commands.common import recent_job_choices
from bot.replies import reply
from bot.scope import Scope, find_job, unknown_job
from bot.services import Services
from bot.store import TAKES, Status
from bot.surfaces import InteractionSurface
from bot.takes import post_takes


def register(tree: app_commands.CommandTree, services: Services) -> None:
    async def job_choices(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await recent_job_choices(services, Scope.of(interaction), current)

    @tree.command(name="show", description="Post an earlier result again, with its buttons")
    @app_commands.describe(job="A job id like #12")
    @app_commands.autocomplete(job=job_choices)
    async def show(
        interaction: discord.Interaction[Any], job: app_commands.Range[str, 1, 24]
    ) -> None:
        found = await find_job(services.store, job, Scope.of(interaction))
        if found is None:
            await reply(interaction, unknown_job(job))
            return
        if found.status is not Status.DONE or found.files is None or not found.files.mp3.exists():
            await reply(interaction, messages.info_text(found))
            return
        await interaction.response.defer(thinking=True)
        if found.action == TAKES:
            takes = await services.store.takes_of(found.id, interaction.guild_id)
            done = [(n, t) for n, t in enumerate(takes, start=1) if t.status is Status.DONE]
            await post_takes(services, found, done, InteractionSurface(interaction))
            return
        await services.dispatcher.post_result(found, InteractionSurface(interaction))
