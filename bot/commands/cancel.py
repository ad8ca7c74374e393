"""``/cancel [job]``: stop a job (default: your newest active one)."""

from typing import Any

import discord
from discord import app_commands

from bot.buttons import cancel_job
from bot.commands.common import recent_job_choices
from bot.replies import reply
from bot.scope import Scope, find_job, recent_in_scope, unknown_job
from bot.services import Services


def register(tree: app_commands.CommandTree, services: Services) -> None:
    async def job_choices(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await recent_job_choices(services, Scope.of(interaction), current)

    @tree.command(name="cancel", description="Stop a queued or running job")
    @app_commands.describe(job="A job id like #12 (default: your newest active job)")
    @app_commands.autocomplete(job=job_choices)
    async def cancel(
        interaction: discord.Interaction[Any], job: app_commands.Range[str, 1, 24] | None = None
    ) -> None:
        scope = Scope.of(interaction)
        if job is not None:
            found = await find_job(services.store, job, scope)
            if found is None:
                await reply(interaction, unknown_job(job))
                return
        else:
            mine = await recent_in_scope(services.store, scope.user_id, scope, limit=25)
            found = next((item for item in mine if item.status.active), None)
            if found is None:
                await reply(interaction, "⚠️ You have no queued or running job here to cancel.")
                return
        await cancel_job(interaction, services, found)
