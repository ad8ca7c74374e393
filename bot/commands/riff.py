"""``/riff prompt [takes] [negative] [seed] [seed_image] [steps] [strength] [guidance]
[scheduler] [loop] [attachment]``: more than one take goes the road of ``bot.takes``."""

from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.actions import guild_config, launch
from bot.chains import MAX_LENGTH_CLIPS, continue_chain
from bot.commands.common import save_attachment
from bot.posts import raw_image_of
from bot.replies import reply
from bot.requests import check_seed_image, check_upload, parse_job_ref, riff_request
from bot.scope import Scope
from bot.services import Services
from bot.store import GuildConfig, JobRecord
from bot.takes import MAX_TAKES, choose_takes, launch_takes, take_requests
from generation.schedule import SCHEDULERS
from generation.types import MAX_SEED, GenerationError, GenerationRequest

SCHEDULER_CHOICES = [app_commands.Choice(name=name, value=name) for name in SCHEDULERS]


def upload_path(services: Services, interaction: discord.Interaction[Any], filename: str) -> Path:
    suffix = Path(filename).suffix.lower()[:8]
    return services.config.out_dir / "uploads" / f"{interaction.id}{suffix}"


def register(tree: app_commands.CommandTree, services: Services) -> None:
    config = services.config
    max_chars = config.max_prompt_chars

    async def seed_image_choices(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        names = [name for name in services.seed_images if needle in name.casefold()]
        choices = [app_commands.Choice(name=name, value=name) for name in names]
        for job in await services.store.recent_jobs(interaction.user.id, limit=10):
            label = f"#{job.id} {job.request.start.prompt}"
            mine_here = job.files is not None and job.guild_id == interaction.guild_id
            if mine_here and needle in label.casefold():
                choices.append(app_commands.Choice(name=label[:100], value=f"#{job.id}"))
        return choices[:25]

    async def prompt_choices(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Your recent prompts (on this server) that contain what you typed."""
        needle = current.casefold()
        seen: dict[str, None] = {}
        for job in await services.store.recent_jobs(interaction.user.id, limit=50):
            text = job.request.start.prompt
            if job.guild_id == interaction.guild_id and needle in text.casefold():
                seen.setdefault(text[:100], None)
        return [app_commands.Choice(name=text, value=text) for text in list(seen)[:25]]

    @tree.command(name="riff", description="Make a clip of music from a text prompt")
    @app_commands.describe(
        prompt="What the music should sound like",
        takes=f"How many takes, in one batch at seeds seed, seed+1, ... (1-{MAX_TAKES})",
        length="Clips long (5.1 s each): the clip, then extended until it is this long",
        negative="What it should not sound like",
        seed="Same seed + same settings = same clip",
        seed_image="Rhythm/structure to start from: a shipped seed image, or a job like #12",
        steps="Denoising steps (more = slower, finer)",
        strength="How far to move from the seed image (0.05-1)",
        guidance="How closely to follow the prompt (classifier-free guidance, 0-20)",
        scheduler="The sampler (pndm is Riffusion's)",
        loop="Make a clip that repeats without a seam",
        attachment="An audio clip or spectrogram PNG to start from instead of a seed image",
    )
    @app_commands.autocomplete(seed_image=seed_image_choices, prompt=prompt_choices)
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    async def riff(
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, max_chars],
        takes: app_commands.Range[int, 1, MAX_TAKES] | None = None,
        length: app_commands.Range[int, 1, MAX_LENGTH_CLIPS] | None = None,
        negative: app_commands.Range[str, 1, max_chars] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        seed_image: app_commands.Range[str, 1, 100] | None = None,
        steps: app_commands.Range[int, 1, config.max_steps] | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        guidance: app_commands.Range[float, 0.0, 20.0] | None = None,
        scheduler: app_commands.Choice[str] | None = None,
        loop: bool = False,
        attachment: discord.Attachment | None = None,
    ) -> None:
        target: Path | None = None
        chosen: str | None
        try:
            if seed_image is not None and parse_job_ref(seed_image) is not None:
                # "#12": start from an earlier clip of this server, like Vary does.
                chosen = await raw_image_of(services.store, seed_image, Scope.of(interaction))
            else:
                chosen = check_seed_image(seed_image, services.seed_images)
            if attachment is not None:
                check_upload(
                    attachment.filename,
                    attachment.size,
                    attachment.content_type,
                    max_bytes=config.max_upload_bytes,
                    allow_images=True,
                )
                target = upload_path(services, interaction, attachment.filename)
                chosen = str(target)
        except GenerationError as error:
            await reply(interaction, f"⚠️ {error}")
            return

        preferences = await services.store.preferences(interaction.user.id)
        count = choose_takes(
            takes, preferences, await guild_config(services, interaction.guild_id), config
        )

        def build(cfg: GuildConfig) -> GenerationRequest:
            return riff_request(
                config,
                prompt=prompt,
                rng=services.rng,
                blocked_words=cfg.blocked_words,
                negative=negative,
                seed=seed,
                seed_image=chosen,
                steps=next(
                    (s for s in (steps, preferences.steps, cfg.default_steps) if s is not None),
                    None,
                ),
                strength=strength,
                loop=loop,
                guidance=guidance if guidance is not None else preferences.guidance,
                scheduler=scheduler.value if scheduler is not None else preferences.scheduler,
            )

        async def save_upload(job: JobRecord) -> None:
            assert attachment is not None
            assert target is not None
            await save_attachment(attachment, target)

        before_run = save_upload if target is not None else None
        names = {str(target): attachment.filename} if target and attachment else None
        private = bool(preferences.private)
        clips = length or preferences.length_clips or 1
        if clips > 1 or count == 1:  # a chain is one take long: each link extends the last
            first = await launch(
                interaction, build, before_run=before_run, names=names, private=private
            )
            await continue_chain(interaction, services, first, clips)
            return
        await launch_takes(
            interaction,
            lambda cfg: take_requests(build(cfg), count),
            before_run=before_run,
            names=names,
            private=private,
        )
