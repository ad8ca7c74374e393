"""``/preferences``: your own defaults (takes, steps, guidance, scheduler, private results).

They apply wherever you leave a value out (``/riff``), before the server's defaults and the
bot's. With no option given it shows what you have set; ``reset`` forgets everything.
"""

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from bot.chains import MAX_LENGTH_CLIPS
from bot.replies import reply
from bot.services import Services
from bot.store import Preferences
from bot.takes import MAX_TAKES
from generation.schedule import SCHEDULERS
from generation.types import GenerationError

CHOICES = [app_commands.Choice(name=name, value=name) for name in SCHEDULERS]


def describe(preferences: Preferences) -> str:
    shown = {
        "takes": preferences.takes,
        "length (clips)": preferences.length_clips,
        "steps": preferences.steps,
        "guidance": preferences.guidance,
        "scheduler": preferences.scheduler,
        "results": None
        if preferences.private is None
        else ("private (only you see them)" if preferences.private else "public"),
    }
    lines = [
        f"{name}: {value:g}" if isinstance(value, float) else f"{name}: {value}"
        for name, value in shown.items()
        if value is not None
    ]
    if not lines:
        return "You have no preferences set: the server's and the bot's defaults apply."
    return "Your preferences:\n" + "\n".join(lines)


def register(tree: app_commands.CommandTree, services: Services) -> None:
    config = services.config

    @tree.command(name="preferences", description="Your defaults for /riff")
    @app_commands.describe(
        takes=f"Takes per /riff (1-{MAX_TAKES})",
        length="Clips per /riff (5.1 s each; more than 1 extends the clip)",
        steps="Denoising steps",
        guidance="How closely to follow the prompt (0-20)",
        scheduler="The sampler",
        private="Show your results only to you",
        reset="Forget all your preferences",
    )
    @app_commands.choices(scheduler=CHOICES)
    async def preferences(
        interaction: discord.Interaction[Any],
        takes: app_commands.Range[int, 1, MAX_TAKES] | None = None,
        length: app_commands.Range[int, 1, MAX_LENGTH_CLIPS] | None = None,
        steps: app_commands.Range[int, 1, config.max_steps] | None = None,
        guidance: app_commands.Range[float, 0.0, 20.0] | None = None,
        scheduler: app_commands.Choice[str] | None = None,
        private: bool | None = None,
        reset: bool = False,
    ) -> None:
        user_id = interaction.user.id
        current = Preferences() if reset else await services.store.preferences(user_id)
        changes: dict[str, Any] = {
            "takes": takes,
            "length_clips": length,
            "steps": steps,
            "guidance": guidance,
            "scheduler": scheduler.value if scheduler is not None else None,
            "private": private,
        }
        given = {name: value for name, value in changes.items() if value is not None}
        if not given and not reset:
            await reply(interaction, describe(current))
            return
        updated = replace(current, **given)
        try:
            await services.store.save_preferences(user_id, updated)
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
            return
        await reply(interaction, "✅ Saved.\n" + describe(updated))
