"""``/help``: the commands, the buttons and the reaction mapping."""

from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.replies import reply
from bot.services import Services


def register(tree: app_commands.CommandTree, services: Services) -> None:
    @tree.command(name="help", description="How to use Riffbot")
    async def help(interaction: discord.Interaction[Any]) -> None:
        await reply(interaction, messages.help_text(services.config.max_active_per_user))
