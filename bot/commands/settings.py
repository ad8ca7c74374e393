"""``/settings``: per-guild blocked words and limits; for people who may manage the server."""

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.flow import limits_for
from bot.replies import reply
from bot.services import Services
from bot.store import GuildConfig
from bot.takes import MAX_TAKES
from generation.types import GenerationError


def describe(config: GuildConfig, services: Services) -> str:
    words = ", ".join(f"`{messages.safe(word, 40)}`" for word in config.blocked_words) or "none"
    per_user, queue = limits_for(services.config, config)
    steps = config.default_steps or services.config.default_steps
    takes = config.default_takes or services.config.default_takes
    return (
        f"Blocked words: {words}\nJobs per user: {per_user} · queue cap: {queue} · "
        f"default steps: {steps} · takes per /riff: {takes}"
    )


def register(tree: app_commands.CommandTree, services: Services) -> None:
    group = app_commands.Group(
        name="settings",
        description="Riffbot settings for this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    async def load(interaction: discord.Interaction[Any]) -> GuildConfig:
        assert interaction.guild_id is not None
        return await services.store.guild_config(interaction.guild_id)

    async def save(interaction: discord.Interaction[Any], config: GuildConfig) -> None:
        assert interaction.guild_id is not None
        try:
            await services.store.save_guild_config(
                interaction.guild_id, config, updated_by=interaction.user.id
            )
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
            return
        await reply(interaction, "✅ Saved.\n" + describe(config, services))

    def allowed(interaction: discord.Interaction[Any]) -> bool:
        return interaction.permissions.manage_guild

    @group.command(name="show", description="Show this server's settings")
    async def show(interaction: discord.Interaction[Any]) -> None:
        await reply(interaction, describe(await load(interaction), services))

    @group.command(name="block", description="Refuse prompts containing a word or phrase")
    async def block(
        interaction: discord.Interaction[Any], word: app_commands.Range[str, 1, 60]
    ) -> None:
        if not allowed(interaction):
            await reply(interaction, "⚠️ You need the Manage Server permission.")
            return
        config = await load(interaction)
        words = tuple(dict.fromkeys((*config.blocked_words, word.strip().casefold())))
        await save(interaction, replace(config, blocked_words=words))

    @group.command(name="unblock", description="Allow a word or phrase again")
    async def unblock(
        interaction: discord.Interaction[Any], word: app_commands.Range[str, 1, 60]
    ) -> None:
        if not allowed(interaction):
            await reply(interaction, "⚠️ You need the Manage Server permission.")
            return
        config = await load(interaction)
        gone = word.strip().casefold()
        await save(
            interaction,
            replace(config, blocked_words=tuple(w for w in config.blocked_words if w != gone)),
        )

    # A guild may only tighten the bot-wide limits (see ``bot.flow.limits_for``).
    @group.command(name="limits", description="Jobs per user, queue cap, default steps, takes")
    async def limits(
        interaction: discord.Interaction[Any],
        per_user: app_commands.Range[int, 1, services.config.max_active_per_user] | None = None,
        queue: app_commands.Range[int, 1, services.config.max_queue_length] | None = None,
        steps: app_commands.Range[int, 1, services.config.max_steps] | None = None,
        takes: app_commands.Range[int, 1, MAX_TAKES] | None = None,
    ) -> None:
        if not allowed(interaction):
            await reply(interaction, "⚠️ You need the Manage Server permission.")
            return
        config = await load(interaction)
        updated = replace(
            config,
            max_active_per_user=per_user or config.max_active_per_user,
            max_queue_length=queue or config.max_queue_length,
            default_steps=steps or config.default_steps,
            default_takes=takes or config.default_takes,
        )
        await save(interaction, updated)

    tree.add_command(group)
