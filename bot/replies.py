"""The one way the bot answers a person privately.

Commands, buttons, the radio and the error handlers all need it, and an interaction that was
already deferred must be answered with a follow-up instead of a response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import discord

from bot.fit import CONTENT, clip
from bot.messages import NO_MENTIONS

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction[Any], text: str) -> None:
    """An ephemeral answer, whether or not the interaction was acknowledged already."""
    text = clip(text, CONTENT)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def guarded(interaction: discord.Interaction[Any], work: Awaitable[None]) -> None:
    """Run a component's work; on an unexpected error, still answer the person who clicked.

    Without this a crash in a button shows only "This interaction failed" in the client.
    """
    try:
        await work
    except Exception:
        log.exception("component %s failed", interaction.data and interaction.data.get("custom_id"))
        text = "⚠️ Something went wrong on our side; it has been logged. Please try again."
        try:
            await reply(interaction, text)
        except discord.HTTPException:
            log.warning("could not report a component error to the user")
