"""The one road from a request to a running job, shared by commands, buttons, modals,
sets of takes and reactions.

Order matters and is the same everywhere: build and validate the request, admit it (the job
rows are written here), and only then acknowledge publicly. A refusal therefore costs nothing
and, where Discord allows it, is shown only to the person who asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from bot import fit, messages
from bot.messages import NO_MENTIONS
from bot.replies import reply
from bot.services import Services, services_of
from bot.store import GuildConfig, JobRecord
from bot.surfaces import InteractionSurface, Surface
from generation.types import GenerationError, GenerationRequest

log = logging.getLogger(__name__)

ADMIT_BUDGET_S = 2.0
"""Longest the checks may take before we acknowledge anyway (Discord allows 3 s)."""

Build = Callable[[GuildConfig], GenerationRequest]
BeforeRun = Callable[[JobRecord], Awaitable[None]]
"""Work between admission and running (saving an upload); a refusal here fails the rows."""


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


@dataclass(frozen=True)
class Asker:
    """Who asked, and where: the owner and place of every row the road writes."""

    user_id: int
    guild_id: int | None
    channel_id: int | None

    @classmethod
    def of(cls, interaction: discord.Interaction[Any]) -> Asker:
        return cls(interaction.user.id, interaction.guild_id, interaction.channel_id)


@dataclass(frozen=True)
class Trigger:
    """The click or reaction that started a job, recorded with it (``store.record_trigger``)."""

    source: str
    key: str
    message_id: int
    source_job_id: str | None


@dataclass(frozen=True)
class Admitted:
    """What one admission wrote, and how to run it."""

    job: JobRecord
    """The row that speaks for the work: the job, or the set of takes."""
    rows: tuple[JobRecord, ...]
    """Every row written; they fail together if the work never starts."""
    run: Callable[[Surface], Awaitable[JobRecord]]


Admit = Callable[[GuildConfig], Awaitable[Admitted]]
"""Build, validate and write the rows under the server's settings; raises ``GenerationError``."""


class Answer(Protocol):
    """How the road talks back: an interaction is deferred and refused privately; a reaction
    has only its channel."""

    @property
    def surface(self) -> Surface: ...

    async def acknowledge(self) -> None:
        """Tell Discord we are on it (at most once; later calls do nothing)."""
        ...

    async def refuse(self, error: GenerationError) -> None: ...


class InteractionAnswer:
    """``private``: the result is shown only to the person who asked (``/preferences``)."""

    def __init__(self, interaction: discord.Interaction[Any], *, private: bool = False) -> None:
        self.interaction = interaction
        self.private = private
        self.surface = InteractionSurface(interaction)

    async def acknowledge(self) -> None:
        if not self.interaction.response.is_done():
            await acknowledge(self.interaction, private=self.private)

    async def refuse(self, error: GenerationError) -> None:
        if self.interaction.response.is_done():
            await self.interaction.edit_original_response(
                content=fit.clip(f"⚠️ {error}", fit.CONTENT), allowed_mentions=NO_MENTIONS
            )
        else:
            await reply(self.interaction, f"⚠️ {error}")


async def admit_and_run(
    services: Services,
    asker: Asker,
    answer: Answer,
    admit: Admit,
    *,
    trigger: Trigger | None = None,
    before_run: BeforeRun | None = None,
    names: Mapping[str, str] | None = None,
) -> JobRecord | None:
    """Admit, acknowledge, record the trigger, prepare and run; ``None`` when refused.

    ``names``: upload path -> the sender's file name, for failures to name it.
    """

    async def admission_under_config() -> Admitted:
        return await admit(await guild_config(services, asker.guild_id))

    # Refusals are private only if we answer before deferring; but Discord gives 3 s, so a
    # slow database must not cost the acknowledgement: past the budget, defer first.
    admission = asyncio.ensure_future(admission_under_config())
    done, _ = await asyncio.wait({admission}, timeout=ADMIT_BUDGET_S)
    if not done:
        await answer.acknowledge()
    try:
        admitted = await admission
    except GenerationError as error:
        await answer.refuse(error)
        return None
    await answer.acknowledge()
    job = admitted.job
    if trigger is not None:
        await services.store.record_trigger(
            source=trigger.source,
            key=trigger.key,
            message_id=trigger.message_id,
            channel_id=asker.channel_id,
            guild_id=asker.guild_id,
            user_id=asker.user_id,
            source_job_id=trigger.source_job_id,
            job_id=job.id,
        )
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
            for row in admitted.rows:
                await services.store.mark_failed(row.id, text)
            await answer.surface.show(messages.failed_text(job, text))
            return None
    return await admitted.run(answer.surface)


def one_job(
    services: Services,
    asker: Asker,
    build: Build,
    *,
    parent: JobRecord | None = None,
    partner: JobRecord | None = None,
    action: str | None = None,
    names: Mapping[str, str] | None = None,
) -> Admit:
    """Admission of a single job, run by the dispatcher."""

    async def admit(config: GuildConfig) -> Admitted:
        job = await services.dispatcher.admit(
            build(config),
            user_id=asker.user_id,
            guild_id=asker.guild_id,
            channel_id=asker.channel_id,
            guild_config=config,
            parent_id=parent.id if parent is not None else None,
            partner_id=partner.id if partner is not None else None,
            action=action,
        )

        async def run(surface: Surface) -> JobRecord:
            return await services.dispatcher.run(job, surface, names=names)

        return Admitted(job, (job,), run)

    return admit


async def launch(
    interaction: discord.Interaction[Any],
    build: Build,
    *,
    parent: JobRecord | None = None,
    partner: JobRecord | None = None,
    action: str | None = None,
    trigger: str | None = None,
    before_run: BeforeRun | None = None,
    names: Mapping[str, str] | None = None,
    private: bool = False,
) -> JobRecord | None:
    """A single job asked for by an interaction. ``trigger``: the custom id that was used;
    ``names`` as for ``admit_and_run``; ``private`` as for ``InteractionAnswer``."""
    services = services_of(interaction.client)
    asker = Asker.of(interaction)
    return await admit_and_run(
        services,
        asker,
        InteractionAnswer(interaction, private=private),
        one_job(services, asker, build, parent=parent, partner=partner, action=action, names=names),
        trigger=interaction_trigger(interaction, trigger, parent),
        before_run=before_run,
        names=names,
    )


def interaction_trigger(
    interaction: discord.Interaction[Any], custom_id: str | None, parent: JobRecord | None
) -> Trigger | None:
    """A button's or modal's custom id, on the message it was used on."""
    if custom_id is None or interaction.message is None:
        return None
    return Trigger(
        source="modal" if custom_id.startswith("riffmodal") else "button",
        key=custom_id,
        message_id=interaction.message.id,
        source_job_id=parent.id if parent is not None else None,
    )
