"""``/blend a b [seed_a] [seed_b] [length]``: a transition from a to b (prompts or job ids)."""

from typing import Any

import discord
from discord import app_commands

from bot.actions import launch
from bot.replies import reply
from bot.requests import blend_request, checked_prompt, new_seed
from bot.scope import Scope, find_job, unknown_job
from bot.services import Services
from bot.store import GuildConfig, JobRecord
from generation.types import MAX_SEED, Endpoint, GenerationRequest


def register(tree: app_commands.CommandTree, services: Services) -> None:
    config = services.config
    max_chars = config.max_prompt_chars

    @tree.command(name="blend", description="A transition from one sound to another")
    @app_commands.describe(
        a="Where it starts: a prompt, or a job id like #12",
        b="Where it ends: a prompt, or a job id like #12",
        seed_a="Seed of the start (default: the job's seed, or random)",
        seed_b="Seed of the end (default: the job's seed, or random)",
        length="Length of the transition in seconds (default 20: four clips)",
    )
    async def blend(
        interaction: discord.Interaction[Any],
        a: app_commands.Range[str, 1, max_chars],
        b: app_commands.Range[str, 1, max_chars],
        seed_a: app_commands.Range[int, 0, MAX_SEED] | None = None,
        seed_b: app_commands.Range[int, 0, MAX_SEED] | None = None,
        length: app_commands.Range[int, 10, 30] | None = None,
    ) -> None:
        # Only "#12" names a job here: a bare "808" is a prompt (a drum machine), not job 808.
        scope = Scope.of(interaction)
        job_a = await find_job(services.store, a, scope) if a.strip().startswith("#") else None
        job_b = await find_job(services.store, b, scope) if b.strip().startswith("#") else None
        for text, job in ((a, job_a), (b, job_b)):
            if job is None and text.strip().startswith("#"):
                await reply(interaction, unknown_job(text))
                return

        def endpoint(
            text: str, job: JobRecord | None, seed: int | None, cfg: GuildConfig
        ) -> Endpoint:
            if job is not None:
                base = job.request.start
                checked_prompt(base.prompt, blocked_words=cfg.blocked_words, max_chars=10**6)
                return Endpoint(
                    base.prompt, base.seed if seed is None else seed, base.strength, base.guidance
                )
            prompt = checked_prompt(text, blocked_words=cfg.blocked_words, max_chars=max_chars)
            chosen = new_seed(services.rng) if seed is None else seed
            return Endpoint(prompt, chosen, config.default_strength, config.default_guidance)

        def build(cfg: GuildConfig) -> GenerationRequest:
            return blend_request(
                config,
                endpoint(a, job_a, seed_a, cfg),
                endpoint(b, job_b, seed_b, cfg),
                seconds=length,
                steps=cfg.default_steps,
            )

        await launch(
            interaction,
            build,
            parent=job_a,
            partner=job_b,
            action="blend" if job_a is not None or job_b is not None else None,
        )
