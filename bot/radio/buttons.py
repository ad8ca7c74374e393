"""The now-playing message's buttons: persistent ``radio:<action>:<guild_id>`` items.

They are ``DynamicItem``s, so discord.py rebuilds them from the custom id on every click and
the buttons of a message posted before a restart keep working. Each click is handed to the
radio cog (looked up on the client, so this module does not import it); the guild id in the
custom id must be the clicking guild's, so one server can never steer another's radio.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.replies import guarded, reply

BUTTONS: dict[str, tuple[str, str, discord.ButtonStyle, int]] = {
    # action: (label, emoji, style, row)
    "steer": ("Steer", "🎛️", discord.ButtonStyle.primary, 0),
    "seed": ("New seed", "🌱", discord.ButtonStyle.secondary, 0),
    "skip": ("Vote skip", "⏭️", discord.ButtonStyle.secondary, 0),
    "vdown": ("Volume", "🔉", discord.ButtonStyle.secondary, 1),
    "vup": ("Volume", "🔊", discord.ButtonStyle.secondary, 1),
    "save": ("Save last 25 s", "💾", discord.ButtonStyle.secondary, 1),
    "stop": ("Stop", "⏹️", discord.ButtonStyle.danger, 1),
}


class ButtonHandler(Protocol):
    """What the radio cog offers its buttons."""

    async def handle_button(self, interaction: discord.Interaction[Any], action: str) -> None: ...

    async def steer_from_modal(
        self, interaction: discord.Interaction[Any], prompt: str
    ) -> None: ...


def _handler(interaction: discord.Interaction[Any]) -> ButtonHandler | None:
    client = interaction.client
    get_cog = getattr(client, "get_cog", None)
    cog = get_cog("radio") if get_cog is not None else None
    return cog if hasattr(cog, "handle_button") else None


class RadioButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"radio:(?P<action>steer|seed|skip|vdown|vup|save|stop):(?P<guild>\d+)",
):
    def __init__(self, action: str, guild_id: int) -> None:
        label, emoji, style, row = BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"radio:{action}:{guild_id}",
            )
        )
        self.action = action
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RadioButton:
        return cls(match["action"], int(match["guild"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._run(interaction))

    async def _run(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction)
        if interaction.guild_id != self.guild_id or handler is None:
            await reply(interaction, "⚠️ This radio is not playing here.")
            return
        await handler.handle_button(interaction, self.action)


def radio_view(guild_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in BUTTONS:
        view.add_item(RadioButton(action, guild_id))
    return view


class SteerModal(discord.ui.Modal, title="Steer the radio"):
    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="What should the music become?",
        custom_id="radio-steer-prompt",
        placeholder="e.g. dreamy synthwave, slow tempo",
        min_length=1,
        max_length=400,
    )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction)
        if handler is None:
            await reply(interaction, "⚠️ The radio is not running.")
            return
        await guarded(interaction, handler.steer_from_modal(interaction, self.prompt.value))
