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
from bot.requests import BLEND, REMIX, derive
from bot.scope import Scope, find_job, recent_in_scope, unknown_job
from bot.services import Services, services_of
from bot.store import GuildConfig, JobRecord, Status
from bot.surfaces import InteractionSurface
from bot.views import RemixModal, blend_view, custom_id
from generation.types import GenerationError, GenerationRequest, InvalidRequest

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


async def _job_or_refuse(
    interaction: discord.Interaction[Any], services: Services, job_id: str
) -> JobRecord | None:
    """A button, select or modal names a job by the id in its custom id, which a raw payload
    can forge: it resolves only within the caller's server, like a typed id."""
    job = await find_job(services.store, job_id, Scope.of(interaction))
    if job is None:
        await reply(interaction, unknown_job(job_id))
    return job


async def on_button(interaction: discord.Interaction[Any], action: str, job_id: str) -> None:
    services = services_of(interaction.client)
    job = await _job_or_refuse(interaction, services, job_id)
    if job is None:
        return
    if action == "cancel":
        await _cancel(interaction, services, job)
    elif action == "info":
        await reply(interaction, messages.info_text(job))
    elif action == "delete":
        await _delete(interaction, services, job)
    elif action == "remix":
        modal = RemixModal(
            job.id,
            job.request.start.prompt,
            services.config.default_strength,
            services.config.max_prompt_chars,
        )
        await interaction.response.send_modal(modal)
    elif action == "blendpick":
        await _offer_blend(interaction, services, job)
    else:
        await launch(
            interaction,
            lambda cfg: derive(
                services.config, job, action, rng=services.rng, blocked_words=cfg.blocked_words
            ),
            parent=job,
            action=action,
            trigger=custom_id(action, job.id),
        )


async def _cancel(
    interaction: discord.Interaction[Any], services: Services, job: JobRecord
) -> None:
    if not may_manage(interaction, job):
        await reply(interaction, "⚠️ Only the person who asked (or a moderator) may cancel this.")
        return
    if not job.status.active:
        await reply(interaction, f"Job {job.display_id} already {job.status.value}.")
        return
    cancelled = await services.dispatcher.cancel(job.id)
    text = (
        f"🛑 Cancelling job {job.display_id}."
        if cancelled
        else (f"Job {job.display_id} could not be cancelled (it may have just finished).")
    )
    await reply(interaction, text)


async def _delete(
    interaction: discord.Interaction[Any], services: Services, job: JobRecord
) -> None:
    if not may_manage(interaction, job):
        await reply(interaction, "⚠️ Only the person who asked (or a moderator) may delete this.")
        return
    await reply(interaction, f"🗑️ Deleted the post of job {job.display_id}.")
    if interaction.message is not None:
        await services.store.forget_post(interaction.message.id)
        try:
            await interaction.message.delete()
        except discord.HTTPException as error:
            log.warning("could not delete post of job %s: %s", job.id, error)


async def _offer_blend(
    interaction: discord.Interaction[Any], services: Services, job: JobRecord
) -> None:
    recent = [
        other
        for other in await recent_in_scope(
            services.store, interaction.user.id, Scope.of(interaction), limit=25
        )
        if other.id != job.id and other.status is Status.DONE
    ]
    if not recent:
        await reply(interaction, "You have no other finished jobs to blend with yet.")
        return
    options = [
        discord.SelectOption(
            label=fit.clip(f"#{other.id} {other.request.start.prompt}", fit.SELECT_OPTION_LABEL),
            value=other.id,
            description=fit.clip(f"seed {other.request.start.seed}", fit.SELECT_OPTION_DESCRIPTION),
        )
        for other in recent[:25]
    ]
    await interaction.response.send_message(
        f"Blend job {job.display_id} with:",
        view=blend_view(job.id, options),
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


async def on_blend_pick(
    interaction: discord.Interaction[Any], job_id: str, partner_id: str
) -> None:
    services = services_of(interaction.client)
    job = await _job_or_refuse(interaction, services, job_id)
    partner = await _job_or_refuse(interaction, services, partner_id) if job else None
    if job is None or partner is None:
        return
    await launch(
        interaction,
        lambda cfg: derive(
            services.config,
            job,
            BLEND,
            rng=services.rng,
            partner=partner,
            blocked_words=cfg.blocked_words,
        ),
        parent=job,
        partner=partner,
        action=BLEND,
        trigger=f"riffsel:blend:{job.id}",
    )


def parse_strength(text: str | None, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise InvalidRequest(f"{text[:10]!r} is not a number; use something like 0.5.") from None
    if not 0.05 <= value <= 1.0:
        raise InvalidRequest("Strength must be between 0.05 and 1.")
    return value


async def on_remix_submit(
    interaction: discord.Interaction[Any], job_id: str, prompt: str, strength_text: str | None
) -> None:
    services = services_of(interaction.client)
    job = await _job_or_refuse(interaction, services, job_id)
    if job is None:
        return

    def build(cfg: GuildConfig) -> GenerationRequest:
        strength = parse_strength(strength_text, services.config.default_strength)
        return derive(
            services.config,
            job,
            REMIX,
            rng=services.rng,
            prompt=prompt,
            strength=strength,
            blocked_words=cfg.blocked_words,
        )

    await launch(interaction, build, parent=job, action=REMIX, trigger=f"riffmodal:remix:{job.id}")
