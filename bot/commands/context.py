"""Message context menus: remix from anywhere, as the AI Horde bot offers on any message.

- "Remix this audio" on any message with an audio attachment: a modal asks for the prompt
  and strength, then the clip is restyled like ``/remix``.
- "Riff like this" on a Riffbot post: a variation of that post's clip (of take 1 for a set).
"""

from typing import Any

import discord
from discord import app_commands

from bot.actions import launch
from bot.commands.remix import check_audio, save_audio
from bot.commands.riff import upload_path
from bot.replies import guarded, reply
from bot.requests import VARY, check_upload, derive, parse_strength, remix_request
from bot.services import Services
from bot.store import GuildConfig, JobRecord
from generation.types import GenerationError, GenerationRequest, InvalidRequest

REMIX_AUDIO = "Remix this audio"
RIFF_LIKE = "Riff like this"


def first_audio(message: discord.Message, max_bytes: int) -> discord.Attachment | None:
    """The message's first attachment that passes as audio by name or type."""
    for attachment in message.attachments:
        try:
            check_upload(
                attachment.filename,
                0,
                attachment.content_type,
                max_bytes=max_bytes,
                allow_images=False,
            )
        except InvalidRequest:
            continue
        return attachment
    return None


class AudioRemixModal(discord.ui.Modal, title="Remix this audio"):
    """Prompt and strength for restyling someone's posted clip."""

    def __init__(self, services: Services, audio: discord.Attachment) -> None:
        super().__init__(timeout=600)
        self.services = services
        self.audio = audio
        max_chars = services.config.max_prompt_chars
        self.prompt: discord.ui.TextInput[AudioRemixModal] = discord.ui.TextInput(
            label="Prompt: what it should sound like afterwards",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=min(max_chars, 4000),
            required=True,
        )
        self.strength: discord.ui.TextInput[AudioRemixModal] = discord.ui.TextInput(
            label="Strength (0.05-1: how much may change)",
            custom_id="strength",
            default="0.5",
            max_length=5,
            required=False,
        )
        self.add_item(self.prompt)
        self.add_item(self.strength)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._start(interaction))

    async def _start(self, interaction: discord.Interaction[Any]) -> None:
        services, audio = self.services, self.audio
        target = upload_path(services, interaction, audio.filename)
        prompt, strength_text = self.prompt.value, self.strength.value

        def build(cfg: GuildConfig) -> GenerationRequest:
            return remix_request(
                services.config,
                audio_path=target,
                prompt=prompt,
                rng=services.rng,
                blocked_words=cfg.blocked_words,
                strength=parse_strength(strength_text, 0.5),
            )

        async def save_upload(job: JobRecord) -> None:
            await save_audio(services, audio, target)

        await launch(interaction, build, before_run=save_upload)


def register(tree: app_commands.CommandTree, services: Services) -> None:
    async def remix_audio(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        audio = first_audio(message, services.config.max_upload_bytes)
        if audio is None:
            await reply(interaction, "⚠️ That message has no audio attachment to remix.")
            return
        try:
            check_audio(services.config, audio)
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
            return
        await interaction.response.send_modal(AudioRemixModal(services, audio))

    async def riff_like(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        job = await services.store.job_for_message(message.id)
        if job is None or job.guild_id != interaction.guild_id:
            await reply(interaction, "⚠️ That is not a Riffbot result post.")
            return
        await launch(
            interaction,
            lambda cfg: derive(
                services.config, job, VARY, rng=services.rng, blocked_words=cfg.blocked_words
            ),
            parent=job,
            action=VARY,
        )

    tree.add_command(app_commands.ContextMenu(name=REMIX_AUDIO, callback=remix_audio))
    tree.add_command(app_commands.ContextMenu(name=RIFF_LIKE, callback=riff_like))
