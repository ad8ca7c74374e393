"""What a result post looks like: an embed with the clip's parameters, a Spectrogram button, and
a Whole track button on extensions.

The embed carries what people ask about a clip (prompt, seed, job id, settings, length, model,
who asked) with the readable picture as its image; the button sends the raw spectrogram PNG
(the model's image, Riffusion's EXIF tags included) privately, because the readable picture
cannot be fed back as a seed while the raw one can (``seed_image`` also takes ``#N``).

Every text is cut to Discord's embed limits here (``fit``): a 400-character prompt must not
make a post fail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import discord

from bot import fit, messages
from bot.messages import NO_MENTIONS
from bot.replies import guarded, reply
from bot.scope import Scope, find_job, no_such_job, unknown_job
from bot.store import JobRecord, JobStore
from generation.types import InvalidRequest, Mode

log = logging.getLogger(__name__)

EMBED_COLOUR = 0x8E44AD


def title_for(job: JobRecord) -> str:
    request = job.request
    if request.end is not None:
        return fit.clip(f"{request.start.prompt} → {request.end.prompt}", fit.EMBED_TITLE)
    return fit.clip(request.start.prompt, fit.EMBED_TITLE)


def settings_line(job: JobRecord) -> str:
    request = job.request
    return (
        f"steps {request.steps} · strength {request.start.strength:g} · "
        f"guidance {request.start.guidance:g} · {request.scheduler}"
    )


def _embed(job: JobRecord, description: str) -> discord.Embed:
    return discord.Embed(
        title=title_for(job),
        description=fit.clip(description, fit.EMBED_DESCRIPTION) or None,
        colour=EMBED_COLOUR,
    )


def _field(embed: discord.Embed, name: str, value: str, *, inline: bool = True) -> None:
    if len(embed.fields) < fit.EMBED_FIELDS:
        embed.add_field(
            name=fit.clip(name, fit.EMBED_FIELD_NAME),
            value=fit.clip(value, fit.EMBED_FIELD_VALUE),
            inline=inline,
        )


def _common_fields(embed: discord.Embed, job: JobRecord, model_name: str) -> None:
    _field(embed, "Settings", settings_line(job), inline=False)
    if model_name:
        _field(embed, "Model", model_name)
    _field(embed, "Asked by", f"<@{job.user_id}>")  # an embed never pings; NO_MENTIONS too


def _description(job: JobRecord) -> str:
    request = job.request
    parts = []
    if request.mode is not Mode.RIFF:
        parts.append(request.mode.value)
    origin = messages.origin(job).removeprefix(" · ")
    if origin:
        parts.append(origin)
    line = " · ".join(parts)
    if request.negative_prompt:
        line = f"{line}\nNot: {request.negative_prompt}".strip()
    return line


def _within_total(embed: discord.Embed) -> discord.Embed:
    """Shorten the description (the only long free text) if the whole embed is too long."""
    excess = len(embed) - fit.EMBED_TOTAL
    if excess > 0 and embed.description:
        embed.description = fit.clip(embed.description, max(1, len(embed.description) - excess))
    return embed


def result_embed(job: JobRecord, *, model_name: str, picture: str | None) -> discord.Embed:
    """The embed of one clip; ``picture`` is the attachment's file name, if it was attached."""
    embed = _embed(job, _description(job))
    _field(embed, "Seed", messages.seeds(job.request).removeprefix("seed "))
    _field(embed, "Job", f"`{job.display_id}`")
    if job.files is not None:
        _field(embed, "Length", f"{job.files.duration_s:.1f} s")
    _common_fields(embed, job, model_name)
    if picture is not None:
        embed.set_image(url=f"attachment://{picture}")
    embed.set_footer(text=fit.clip(footer_text(job), fit.EMBED_FOOTER))
    return _within_total(embed)


def set_embed(
    set_job: JobRecord,
    takes: Sequence[tuple[int, JobRecord]],
    *,
    model_name: str,
    picture: str | None,
) -> discord.Embed:
    """The embed of a set of takes: a field per take (its job id, seed and length)."""
    embed = _embed(set_job, _description(set_job))
    _field(embed, "Job", f"`{set_job.display_id}` ({len(takes)} takes)")
    for number, take in takes:
        length = f" · {take.files.duration_s:.1f} s" if take.files is not None else ""
        _field(embed, f"Take {number}", f"`#{take.id}` · seed {take.request.start.seed}{length}")
    _common_fields(embed, set_job, model_name)
    if picture is not None:
        embed.set_image(url=f"attachment://{picture}")
    embed.set_footer(
        text="Buttons work on one take: Vary 2 varies take 2. Reroll all makes a new set."
    )
    return _within_total(embed)


def footer_text(job: JobRecord) -> str:
    return (
        f"Spectrogram: the raw image, to seed /riff or /remix (or give seed_image "
        f"{job.display_id})."
    )


# --- the Spectrogram button -----------------------------------------------------------------


class RawButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"riffraw:(?P<job>\d+)",
):
    """Sends the job's raw spectrogram PNG to the person who clicked, privately."""

    def __init__(self, job_id: str, *, label: str = "Spectrogram", row: int = 1) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="🖼️",
                style=discord.ButtonStyle.secondary,
                row=row,
                custom_id=f"riffraw:{job_id}",
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
    ) -> RawButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, send_raw(interaction, self.job_id))


async def send_raw(interaction: discord.Interaction[Any], job_id: str) -> None:
    # The store is read off the client (``bot.app.RiffBot.services``) rather than through
    # ``bot.services``, which builds the dispatcher that imports this module.
    store: JobStore = interaction.client.services.store
    job = await find_job(store, job_id, Scope.of(interaction))
    if job is None:
        await reply(interaction, unknown_job(job_id))
        return
    if job.files is None or not job.files.raw_png.exists():
        await reply(interaction, f"⚠️ Job {job.display_id} has no spectrogram (any more).")
        return
    text = (
        f"The raw spectrogram of {job.display_id} (512 rows = 0-10 kHz, 10 ms a column, loud "
        f"is dark; Riffusion's EXIF tags inside). Attach it to /riff or /remix, or give "
        f"`seed_image: {job.display_id}`.\nSeed {job.request.start.seed} · {settings_line(job)}"
    )
    await interaction.response.send_message(
        text,
        file=discord.File(job.files.raw_png, filename=f"spectrogram-{job.id}.png"),
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


async def raw_image_of(store: JobStore, text: str, scope: Scope) -> str:
    """``seed_image: #N``: job N's raw spectrogram, if job N is the caller's to name
    (:mod:`bot.scope`) and still has it; another server's job reads as one that never existed.
    """
    job = await find_job(store, text, scope)
    if job is None:
        raise InvalidRequest(no_such_job(text))
    if job.files is None or not job.files.raw_png.exists():
        raise InvalidRequest(
            f"Job {job.display_id} has no finished spectrogram to seed from "
            "(it is still running, failed, or its files were cleaned up)."
        )
    return str(job.files.raw_png)


# --- the Whole track button -----------------------------------------------------------------

MAX_CHAIN_LINKS = 64
"""Far more than ``/riff length`` makes; bounds the walk up a chain of parents."""


class WholeTrackButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"riffwhole:(?P<job>\d+)",
):
    """On an extension's post: posts the whole chain as one track. An extension's clip is its
    parent's image with new columns joined on, so its own MP3 and picture already are the
    whole track; the button names the links it is made of."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Whole track",
                emoji="🎼",
                style=discord.ButtonStyle.secondary,
                row=0,
                custom_id=f"riffwhole:{job_id}",
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
    ) -> WholeTrackButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, send_whole_track(interaction, self.job_id))


async def chain_of(store: JobStore, job: JobRecord) -> list[JobRecord]:
    """``job`` and the links it extends, oldest first, within its own server."""
    chain = [job]
    seen = {job.id}
    while len(chain) < MAX_CHAIN_LINKS and chain[-1].request.mode is Mode.EXTEND:
        parent_id = chain[-1].parent_id
        parent = await store.get_job(parent_id) if parent_id else None
        if parent is None or parent.guild_id != job.guild_id or parent.id in seen:
            break
        chain.append(parent)
        seen.add(parent.id)
    return chain[::-1]


async def send_whole_track(interaction: discord.Interaction[Any], job_id: str) -> None:
    store: JobStore = interaction.client.services.store  # see send_raw
    job = await find_job(store, job_id, Scope.of(interaction))
    if job is None:
        await reply(interaction, unknown_job(job_id))
        return
    files = job.files
    if files is None or not files.mp3.exists():
        await reply(interaction, f"⚠️ Job {job.display_id} has no finished track (any more).")
        return
    links = " → ".join(link.display_id for link in await chain_of(store, job))
    prompt = messages.safe(job.request.start.prompt)
    text = f"🎼 Whole track {links} · {files.duration_s:.1f} s · {prompt}"
    uploads = [discord.File(files.mp3, filename=f"track-{job.id}.mp3")]
    if files.picture_png is not None and files.picture_png.exists():
        uploads.append(discord.File(files.picture_png, filename=f"track-{job.id}.png"))
    await interaction.response.send_message(
        fit.clip(text, fit.CONTENT), files=uploads, allowed_mentions=NO_MENTIONS
    )
