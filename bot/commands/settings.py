"""``/settings``: per-guild blocked words and limits; for people who may manage the server."""

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.dispatcher import limits_for
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


def check_range(name: str, value: int | None, high: int) -> None:
    """Discord enforces the declared bounds, but a raw payload need not: refuse it clearly
    here instead of failing in the database."""
    if value is not None and not 1 <= value <= high:
        raise GenerationError(f"{name} must be between 1 and {high}, got {value}.")


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
        if not word.strip() or len(word) > 60:
            await reply(interaction, "⚠️ A blocked word or phrase is 1 to 60 characters.")
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

    # A guild may only tighten the bot-wide limits (see ``bot.dispatcher.limits_for``).
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
        bot_wide = services.config
        try:
            check_range("Jobs per user", per_user, bot_wide.max_active_per_user)
            check_range("The queue cap", queue, bot_wide.max_queue_length)
            check_range("Default steps", steps, bot_wide.max_steps)
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
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
