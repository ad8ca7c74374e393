"""``/history [user]``: someone's recent jobs, shown only to the person asking."""

from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.replies import reply
from bot.scope import Scope, recent_in_scope
from bot.services import Services


def register(tree: app_commands.CommandTree, services: Services) -> None:
    @tree.command(name="history", description="Recent jobs (yours, or someone else's)")
    @app_commands.describe(user="Whose jobs to list (default: yours)")
    async def history(
        interaction: discord.Interaction[Any], user: discord.User | None = None
    ) -> None:
        who = user or interaction.user
        jobs = await recent_in_scope(services.store, who.id, Scope.of(interaction), limit=10)
        whose = "you" if who.id == interaction.user.id else messages.safe(who.display_name, 40)
        await reply(interaction, messages.history_text(jobs, whose))
