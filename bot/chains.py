"""Extend chains: ``/riff length:N`` makes a clip and extends it N-1 times, Suno-style.

Each link is a job of its own (an extension whose parent is the previous link), run one after
the other on the same message, so the person sees the track grow and every link can be
remixed. An extension's clip is the parent's image with the new columns joined on (tempo held,
see ``generation.pipeline``), so the last link *is* the whole track: one MP3, one picture with
every join of the chain marked (``generation.picture.chain_joins`` walks the clip records back).
An extension's post carries a "Whole track" button (``bot.posts.WholeTrackButton``) that posts
that MP3 and picture again, naming the chain's links.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.messages import NO_MENTIONS
from bot.requests import EXTEND, derive
from bot.services import Services
from bot.store import JobRecord, Status
from bot.surfaces import InteractionSurface
from generation.types import GenerationError

log = logging.getLogger(__name__)

MAX_LENGTH_CLIPS = 8


async def continue_chain(
    interaction: discord.Interaction[Any],
    services: Services,
    first: JobRecord | None,
    length: int,
) -> JobRecord | None:
    """Extend ``first`` until the chain has ``length`` clips, or a link fails or is refused."""
    job = first
    for _ in range(max(0, min(length, MAX_LENGTH_CLIPS) - 1)):
        if job is None or job.status is not Status.DONE:
            return job
        parent = job
        try:
            cfg = (
                await services.store.guild_config(interaction.guild_id)
                if interaction.guild_id
                else None
            )
            request = derive(
                services.config,
                parent,
                EXTEND,
                rng=services.rng,
                blocked_words=cfg.blocked_words if cfg is not None else (),
            )
            child = await services.dispatcher.admit(
                request,
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                guild_config=cfg,
                parent_id=parent.id,
                action=EXTEND,
            )
        except GenerationError as error:
            await interaction.followup.send(
                f"⚠️ The track stopped at {parent.display_id}: {error}",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return parent
        job = await services.dispatcher.run(child, InteractionSurface(interaction))
    return job
