"""``/settings radio``: a server's DJ roles, radio volume and 24/7 switch, for its admins.

It is a subcommand of the bot's ``/settings`` group, added by the radio extension, so the
radio's settings live with the radio and ``bot.commands.settings`` need not know about them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.messages import NO_MENTIONS
from bot.radio.store import RadioGuildSettings
from bot.replies import reply

if TYPE_CHECKING:
    from bot.radio.controller import RadioController

MAX_DJ_ROLES = 10


def describe_radio_settings(settings: RadioGuildSettings) -> str:
    roles = " ".join(f"<@&{r}>" for r in sorted(settings.dj_role_ids)) or "none (everyone is a DJ)"
    return (
        f"📻 DJ roles: {roles} · volume {settings.volume_pct} % · "
        f"24/7 {'on' if settings.always_on else 'off'}"
    )


def change_settings(
    settings: RadioGuildSettings,
    *,
    add_dj_role: int | None,
    remove_dj_role: int | None,
    volume: int | None,
    always_on: bool | None,
) -> RadioGuildSettings:
    roles = set(settings.dj_role_ids)
    if add_dj_role is not None:
        roles.add(add_dj_role)
    if remove_dj_role is not None:
        roles.discard(remove_dj_role)
    if len(roles) > MAX_DJ_ROLES:
        raise ValueError(f"At most {MAX_DJ_ROLES} DJ roles.")
    return replace(
        settings,
        dj_role_ids=frozenset(roles),
        volume_pct=settings.volume_pct if volume is None else volume,
        always_on=settings.always_on if always_on is None else always_on,
    )


def radio_settings_command(controller: RadioController) -> app_commands.Command[Any, Any, None]:
    from bot.radio.controller import RadioRefused

    @app_commands.command(name="radio", description="DJ roles, volume and 24/7 for the radio")
    @app_commands.describe(
        dj_role="add a DJ role (DJs steer, skip and set the volume without a vote)",
        remove_dj_role="remove a DJ role",
        volume="the radio's volume in percent",
        always_on="24/7: stay in an empty channel, paused, and play when someone joins",
    )
    async def radio(
        interaction: discord.Interaction[Any],
        dj_role: discord.Role | None = None,
        remove_dj_role: discord.Role | None = None,
        volume: app_commands.Range[int, 0, 200] | None = None,
        always_on: bool | None = None,
    ) -> None:
        guild_id = interaction.guild_id
        if guild_id is None:
            await reply(interaction, "⚠️ Radio settings belong to a server.")
            return
        current = await controller.guild_settings(guild_id)
        if all(v is None for v in (dj_role, remove_dj_role, volume, always_on)):
            await reply(interaction, describe_radio_settings(current))
            return
        if not interaction.permissions.manage_guild:
            await reply(interaction, "⚠️ You need the Manage Server permission.")
            return
        try:
            updated = change_settings(
                current,
                add_dj_role=dj_role.id if dj_role else None,
                remove_dj_role=remove_dj_role.id if remove_dj_role else None,
                volume=volume,
                always_on=always_on,
            )
            await controller.save_guild_settings(guild_id, updated, updated_by=interaction.user.id)
        except (ValueError, RadioRefused) as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(
            "✅ Saved. " + describe_radio_settings(updated),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    return radio
