"""Persistent buttons under status and result posts: ``riff:<action>:<job_id>``.

They are ``DynamicItem``s: discord.py rebuilds them from the custom id on every click, so a
button on a week-old post works after any number of restarts, and everything else the action
needs is read from the database by job id.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot import fit
from bot.replies import guarded

BUTTONS: dict[str, tuple[str, str, discord.ButtonStyle, int]] = {
    # action: (label, emoji, style, row)
    "reroll": ("Reroll", "🔁", discord.ButtonStyle.primary, 0),
    "vary": ("Vary", "🎲", discord.ButtonStyle.secondary, 0),
    "extend": ("Extend", "⏩", discord.ButtonStyle.secondary, 0),
    "loop": ("Loop", "🔂", discord.ButtonStyle.secondary, 0),
    "blendpick": ("Blend with…", "🔀", discord.ButtonStyle.secondary, 1),
    "remix": ("Remix", "✏️", discord.ButtonStyle.secondary, 1),
    "info": ("Info", "📋", discord.ButtonStyle.secondary, 1),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger, 1),
    "cancel": ("Cancel", "🛑", discord.ButtonStyle.danger, 0),
}
RESULT_ACTIONS = ("reroll", "vary", "extend", "loop", "blendpick", "remix", "info", "delete")


def custom_id(action: str, job_id: str) -> str:
    return f"riff:{action}:{job_id}"


class RiffButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"riff:(?P<action>[a-z]+):(?P<job>\d+)",
):
    def __init__(self, action: str, job_id: str) -> None:
        label, emoji, style, row = BUTTONS.get(
            action, (action, "❔", discord.ButtonStyle.secondary, 1)
        )
        super().__init__(
            discord.ui.Button(
                label=fit.clip(label, fit.BUTTON_LABEL),
                emoji=emoji,
                style=style,
                row=row,
                custom_id=custom_id(action, job_id),
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RiffButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from bot import actions

        await guarded(interaction, actions.on_button(interaction, self.action, self.job_id))


class BlendSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"riffsel:blend:(?P<job>\d+)",
):
    """ "Blend with…": pick one of your recent jobs; the pick starts the blend."""

    def __init__(self, job_id: str, options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"riffsel:blend:{job_id}",
                placeholder="Blend with which of your jobs?",
                options=options or [discord.SelectOption(label="(none)", value="0")],
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> BlendSelect:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from bot import actions

        picked = self.item.values
        partner = picked[0] if picked else ""
        await guarded(interaction, actions.on_blend_pick(interaction, self.job_id, partner))


def status_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RiffButton("cancel", job_id))
    return view


def result_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(RiffButton(action, job_id))
    return view


def blend_view(job_id: str, options: list[discord.SelectOption]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(BlendSelect(job_id, options))
    return view


class RemixModal(discord.ui.Modal, title="Remix"):
    """Pre-filled with the parent's prompt: edit it and submit to restyle that clip."""

    def __init__(self, job_id: str, prompt: str, strength: float, max_chars: int) -> None:
        super().__init__(timeout=600, custom_id=f"riffmodal:remix:{job_id}")
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=fit.clip(prompt, min(max_chars, fit.TEXT_INPUT_VALUE)),
            max_length=min(max_chars, fit.TEXT_INPUT_VALUE),
            required=True,
        )
        self.strength: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Strength (0.05-1: how much may change)",
            custom_id="strength",
            default=f"{strength:g}",
            max_length=5,
            required=False,
        )
        self.add_item(self.prompt)
        self.add_item(self.strength)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        from bot import actions

        await guarded(
            interaction,
            actions.on_remix_submit(
                interaction, self.job_id, self.prompt.value, self.strength.value
            ),
        )
