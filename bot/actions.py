"""The one road from an interaction to a running job, shared by commands, buttons and modals.

Order matters and is the same everywhere: build and validate the request, admit it (the job
row is written here), and only then acknowledge publicly. A refusal therefore costs nothing
and is shown only to the person who asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from bot import fit, messages
from bot.messages import NO_MENTIONS
from bot.replies import reply
from bot.services import Services, services_of
from bot.store import GuildConfig, JobRecord
from bot.surfaces import InteractionSurface
from generation.types import GenerationError, GenerationRequest

log = logging.getLogger(__name__)

ADMIT_BUDGET_S = 2.0
"""Longest the checks may take before we acknowledge anyway (Discord allows 3 s)."""

Build = Callable[[GuildConfig], GenerationRequest]


async def guild_config(services: Services, guild_id: int | None) -> GuildConfig:
    return await services.store.guild_config(guild_id) if guild_id is not None else GuildConfig()


async def acknowledge(interaction: discord.Interaction[Any], *, private: bool = False) -> None:
    """Defer publicly ("thinking"); if Discord refuses (too late, a hiccup), carry on.

    The job row is written (or about to be), so failing here would leave it queued with
    nobody running it; instead it runs, and its surface posts in the channel when the
    interaction cannot be edited.
    """
    try:
        await interaction.response.defer(thinking=True, ephemeral=private)
    except discord.HTTPException as error:
        log.warning("could not acknowledge interaction %s: %s", interaction.id, error)


def may_manage(interaction: discord.Interaction[Any], job: JobRecord) -> bool:
    """The person who asked, or anyone who may manage messages in the channel."""
    return job.user_id == interaction.user.id or interaction.permissions.manage_messages


async def launch(
    interaction: discord.Interaction[Any],
    build: Build,
    *,
    parent: JobRecord | None = None,
    partner: JobRecord | None = None,
    action: str | None = None,
    trigger: str | None = None,
    before_run: Callable[[JobRecord], Awaitable[None]] | None = None,
    names: Mapping[str, str] | None = None,
    private: bool = False,
) -> JobRecord | None:
    """``names``: upload path -> the sender's file name, for failures to name it.
    ``private``: the result is shown only to the person who asked (``/preferences``)."""
    services = services_of(interaction.client)

    async def admit() -> JobRecord:
        config = await guild_config(services, interaction.guild_id)
        return await services.dispatcher.admit(
            build(config),
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            guild_config=config,
            parent_id=parent.id if parent is not None else None,
            partner_id=partner.id if partner is not None else None,
            action=action,
        )

    # Refusals are private only if we answer before deferring; but Discord gives 3 s, so a
    # slow database must not cost the acknowledgement: past the budget, defer first.
    admission = asyncio.ensure_future(admit())
    done, _ = await asyncio.wait({admission}, timeout=ADMIT_BUDGET_S)
    if not done:
        await acknowledge(interaction, private=private)
    try:
        job = await admission
    except GenerationError as error:
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=fit.clip(f"⚠️ {error}", fit.CONTENT), allowed_mentions=NO_MENTIONS
            )
        else:
            await reply(interaction, f"⚠️ {error}")
        return None
    if not interaction.response.is_done():
        await acknowledge(interaction, private=private)
    if trigger is not None and interaction.message is not None:
        await services.store.record_trigger(
            source="modal" if trigger.startswith("riffmodal") else "button",
            key=trigger,
            message_id=interaction.message.id,
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
            source_job_id=parent.id if parent is not None else None,
            job_id=job.id,
        )
    surface = InteractionSurface(interaction)
    if before_run is not None:
        try:
            await before_run(job)
        except (GenerationError, discord.HTTPException, OSError) as error:
            text = (
                messages.public_error(str(error), names)
                if isinstance(error, GenerationError)
                else "the upload could not be read"
            )
            log.info("job %s refused before running: %s", job.id, error)
            services.dispatcher.forget_upload(job)
            await services.store.mark_failed(job.id, text)
            await surface.show(messages.failed_text(job, text))
            return None
    return await services.dispatcher.run(job, surface, names=names)
