"""The one way the bot answers a person privately.

Commands, buttons, the radio and the error handlers all need it, and an interaction that was
already deferred must be answered with a follow-up instead of a response.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.fit import CONTENT, clip
from bot.messages import NO_MENTIONS


async def reply(interaction: discord.Interaction[Any], text: str) -> None:
    """An ephemeral answer, whether or not the interaction was acknowledged already."""
    text = clip(text, CONTENT)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
