"""``/remix audio prompt [strength]``: restyle an uploaded clip (size, type and length capped)."""

from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.actions import launch
from bot.commands.common import save_attachment
from bot.commands.riff import upload_path
from bot.config import BotConfig
from bot.posts import raw_image_of
from bot.replies import reply
from bot.requests import check_upload, remix_request
from bot.scope import Scope
from bot.services import Services
from bot.store import GuildConfig, JobRecord
from generation.types import GenerationError, GenerationRequest, InvalidRequest


def check_audio(config: BotConfig, audio: discord.Attachment) -> None:
    """Refuse an attachment by type, size and (where Discord says) length, before download."""
    check_upload(
        audio.filename,
        audio.size,
        audio.content_type,
        max_bytes=config.max_upload_bytes,
        allow_images=False,
    )
    if audio.duration is not None and audio.duration > config.max_audio_seconds:
        raise InvalidRequest(
            f"The clip is {audio.duration:.0f} s long; the limit is {config.max_audio_seconds:g} s."
        )


async def save_audio(services: Services, audio: discord.Attachment, target: Path) -> None:
    """Download the clip, then measure it: a renamed or lying file is refused here."""
    config = services.config
    await save_attachment(audio, target)
    if services.probe is None:
        return  # the engine still caps the length it reads
    seconds = await services.probe(target)
    if seconds is None:
        raise InvalidRequest(f"{audio.filename[:60]!r} could not be read as audio.")
    if seconds > config.max_audio_seconds:
        raise InvalidRequest(
            f"The clip is {seconds:.0f} s long; the limit is {config.max_audio_seconds:g} s."
        )


def register(tree: app_commands.CommandTree, services: Services) -> None:
    config = services.config
    max_chars = config.max_prompt_chars

    @tree.command(name="remix", description="Restyle your own audio clip with a prompt")
    @app_commands.describe(
        prompt="What it should sound like afterwards",
        audio=f"An audio file (mp3, wav, ogg, flac, m4a), up to {config.max_audio_seconds:g} s",
        seed_image="Instead of a file: a job like #12 (its raw spectrogram)",
        strength="How much may change (0.05-1)",
    )
    async def remix(
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, max_chars],
        audio: discord.Attachment | None = None,
        seed_image: app_commands.Range[str, 1, 24] | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
    ) -> None:
        try:
            if audio is not None:
                check_audio(config, audio)
                target = upload_path(services, interaction, audio.filename)
            elif seed_image is not None:
                scope = Scope.of(interaction)
                target = Path(await raw_image_of(services.store, seed_image, scope))
            else:
                raise InvalidRequest("Attach the audio to remix, or name a job: seed_image #12.")
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
            return

        def build(cfg: GuildConfig) -> GenerationRequest:
            return remix_request(
                config,
                audio_path=target,
                prompt=prompt,
                rng=services.rng,
                blocked_words=cfg.blocked_words,
                strength=strength,
            )

        async def save_upload(job: JobRecord) -> None:
            assert audio is not None
            await save_audio(services, audio, target)

        # Failures name the sender's file, or the job they named, never a server path.
        shown = audio.filename if audio is not None else str(seed_image)
        await launch(
            interaction,
            build,
            before_run=save_upload if audio is not None else None,
            names={str(target): shown},
        )
