"""Persistent buttons under status and result posts (``riff:<action>:<job_id>``) and what a
click on one does.

They are ``DynamicItem``s: discord.py rebuilds them from the custom id on every click, so a
button on a week-old post works after any number of restarts, and everything else the action
needs is read from the database by job id.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot import fit, messages
from bot.actions import launch, may_manage
from bot.dispatcher import JobViews
from bot.messages import NO_MENTIONS
from bot.replies import guarded, reply
from bot.requests import BLEND, REMIX, derive, parse_strength
from bot.scope import Scope, find_job, recent_in_scope, unknown_job
from bot.services import Services, services_of
from bot.store import GuildConfig, JobRecord, Status
from generation.types import GenerationRequest

log = logging.getLogger(__name__)

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
        await guarded(interaction, on_button(interaction, self.action, self.job_id))


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
        picked = self.item.values
        partner = picked[0] if picked else ""
        await guarded(interaction, on_blend_pick(interaction, self.job_id, partner))


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


JOB_VIEWS = JobViews(status=status_view, result=result_view)
"""What ``bot.dispatcher.Dispatcher`` draws under a single job's posts."""


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
        await guarded(
            interaction,
            on_remix_submit(interaction, self.job_id, self.prompt.value, self.strength.value),
        )


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
        await cancel_job(interaction, services, job)
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


async def cancel_job(
    interaction: discord.Interaction[Any], services: Services, job: JobRecord
) -> None:
    """The Cancel button and ``/cancel``: only its asker or a moderator, only while active."""
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
