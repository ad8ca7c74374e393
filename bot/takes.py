"""Takes: one ``/riff`` makes N clips in one engine batch, posted together as one message.

Midjourney answers ``/imagine`` with four images and buttons per image; Suno answered with two
clips. Here a set of takes is a job row of its own (action ``"takes"``) whose children are one
row per take (action ``"take"``), so ``/show #N``, every remix button and every reaction work on
one take, while the post shows the set: each take's MP3, one combined picture labelled take
1..N, a row of buttons per take and a Reroll for the whole set.

The per-take buttons are the ordinary ``riff:<action>:<take id>`` buttons (their handlers are
``bot.buttons.on_button``); only the set's own buttons (Reroll, Cancel) live here.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord

from bot import messages
from bot.actions import (
    Admit,
    Admitted,
    Asker,
    BeforeRun,
    InteractionAnswer,
    admit_and_run,
    may_manage,
)
from bot.buttons import BUTTONS, RiffButton
from bot.config import BotConfig
from bot.dispatcher import StatusEditor, owner_for
from bot.posts import RawButton, set_embed
from bot.replies import guarded, reply
from bot.requests import REROLL, derive
from bot.scope import Scope, find_job, unknown_job
from bot.services import Services, services_of
from bot.store import GuildConfig, JobRecord, Preferences, Status
from bot.surfaces import Surface, Upload, show_final
from generation.types import (
    MAX_SEED,
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    Progress,
)

log = logging.getLogger(__name__)

MAX_TAKES = 4
"""Four rows of five per-take buttons plus one row for the set fill Discord's 5x5 grid."""
TAKE_ACTIONS = ("vary", "extend", "loop", "remix", "blendpick")
SHORT_LABELS = {"blendpick": "Blend"}

BuildTakes = Callable[[GuildConfig], list[GenerationRequest]]


# --- how many, and which ------------------------------------------------------------------


def choose_takes(
    asked: int | None, preferences: Preferences, guild: GuildConfig, config: BotConfig
) -> int:
    """What the person asked for, else their preference, the server's default, the bot's."""
    for value in (asked, preferences.takes, guild.default_takes, config.default_takes):
        if value is not None:
            return max(1, min(MAX_TAKES, value))
    return 1


def take_requests(request: GenerationRequest, count: int) -> list[GenerationRequest]:
    """``count`` takes of ``request``: the same settings at seeds seed, seed+1, ..."""
    return [
        replace(
            request, start=replace(request.start, seed=(request.start.seed + i) % (MAX_SEED + 1))
        )
        for i in range(count)
    ]


# --- buttons ------------------------------------------------------------------------------


class SetButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"riffset:(?P<action>reroll|cancel):(?P<job>\d+)",
):
    """Reroll (the whole set, new seeds, same number of takes) or Cancel (every take)."""

    def __init__(self, action: str, set_id: str, row: int = 0) -> None:
        label, emoji, style, _ = BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=label if action == "cancel" else "Reroll all",
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"riffset:{action}:{set_id}",
            )
        )
        self.action = action
        self.set_id = set_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> SetButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = on_set_reroll if self.action == "reroll" else on_set_cancel
        await guarded(interaction, handler(interaction, self.set_id))


def take_button(action: str, take_id: str, number: int) -> RiffButton:
    """A ``riff:<action>:<take>`` button labelled with its take's number, on that take's row."""
    button = RiffButton(action, take_id)
    label = SHORT_LABELS.get(action, BUTTONS[action][0])
    button.item.label = f"{label} {number}"
    button.item.row = number - 1
    return button


def takes_view(set_id: str, takes: Sequence[tuple[int, JobRecord]]) -> discord.ui.View:
    """A row per take (``(number, take)``) and a last row with Reroll for the set."""
    view = discord.ui.View(timeout=None)
    for number, take in takes:
        for action in TAKE_ACTIONS:
            view.add_item(take_button(action, take.id, number))
    view.add_item(SetButton("reroll", set_id, row=MAX_TAKES))
    for number, take in takes:
        view.add_item(RawButton(take.id, label=f"Spectrogram {number}", row=MAX_TAKES))
    return view


def set_status_view(set_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(SetButton("cancel", set_id))
    return view


# --- texts --------------------------------------------------------------------------------


def set_result_text(set_job: JobRecord, takes: Sequence[tuple[int, JobRecord]], note: str) -> str:
    """One line for the set, one per take (its job id and seed), then any note."""
    count = len(takes)
    head = (
        f"🎵 {messages.describe(set_job.request)} · {count} take{'s' if count != 1 else ''} · "
        f"job `{set_job.display_id}`{messages.origin(set_job)} · by <@{set_job.user_id}>"
    )
    rows = [
        f"take {number}: `#{take.id}` · seed {take.request.start.seed}"
        + (f" · {take.files.duration_s:.1f} s" if take.files is not None else "")
        for number, take in takes
    ]
    return "\n".join([head, *rows, *([note] if note else [])])


def missing_note(missing: Sequence[tuple[int, str]]) -> str:
    return " ".join(f"⚠️ take {number} failed: {messages.safe(why, 200)}" for number, why in missing)


# --- the road -----------------------------------------------------------------------------


def a_set_of_takes(
    services: Services,
    asker: Asker,
    build: BuildTakes,
    *,
    parent: JobRecord | None = None,
    action: str | None = None,
) -> Admit:
    """Admission of a set: its row and one per take, run as one engine batch."""

    async def admit(config: GuildConfig) -> Admitted:
        set_job, takes = await services.dispatcher.admit_takes(
            build(config),
            user_id=asker.user_id,
            guild_id=asker.guild_id,
            channel_id=asker.channel_id,
            guild_config=config,
            parent_id=parent.id if parent is not None else None,
            action=action,
        )

        async def run(surface: Surface) -> JobRecord:
            return await run_takes(services, set_job, takes, surface)

        return Admitted(set_job, (set_job, *takes), run)

    return admit


async def launch_takes(
    interaction: discord.Interaction[Any],
    build: BuildTakes,
    *,
    parent: JobRecord | None = None,
    action: str | None = None,
    before_run: BeforeRun | None = None,
    names: Mapping[str, str] | None = None,
    private: bool = False,
) -> JobRecord | None:
    """``bot.actions.launch`` for a set: the same road, admitting a set of takes."""
    services = services_of(interaction.client)
    asker = Asker.of(interaction)
    return await admit_and_run(
        services,
        asker,
        InteractionAnswer(interaction, private=private),
        a_set_of_takes(services, asker, build, parent=parent, action=action),
        before_run=before_run,
        names=names,
    )


async def run_takes(
    services: Services, set_job: JobRecord, takes: list[JobRecord], surface: Surface
) -> JobRecord:
    """Run the takes as one batch, keep the set's one message current, post the set."""
    dispatcher = services.dispatcher
    editor = StatusEditor(
        surface,
        dispatcher.spawn,
        interval_s=services.config.progress_interval_s,
        clock=dispatcher.clock,
    )
    first = takes[0].id
    started: set[str] = set()
    preview: list[bytes] = []

    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()

    def on_progress(progress: Progress) -> None:
        # Progress may arrive hopped onto the loop in an empty context; handle it in this
        # task's context so edits behave like the task's own (as ``Dispatcher.run`` does).
        loop.call_soon(show_progress, progress, context=context)

    def show_progress(progress: Progress) -> None:
        # All takes move together in one batch: take 1 speaks for the set.
        if progress.state != "queued" and progress.job_id not in started:
            started.add(progress.job_id)
            dispatcher.spawn(services.store.mark_running(progress.job_id))
            if progress.job_id == first:
                dispatcher.spawn(services.store.mark_running(set_job.id))
        if progress.job_id != first:
            return
        if progress.preview_png:
            preview[:] = [progress.preview_png]
        uploads = [Upload(f"preview-{set_job.id}.png", data=preview[0])] if preview else []
        editor.push(
            messages.status_text(set_job, progress, set_job.user_id) + f" · {len(takes)} takes",
            uploads,
            set_status_view(set_job.id),
            force=progress.state != "running" or progress.step <= 1,
        )

    editor.push(
        messages.status_text(set_job, None, set_job.user_id) + f" · {len(takes)} takes",
        [],
        set_status_view(set_job.id),
        force=True,
    )
    try:
        outcomes = await services.runner.render_takes(
            [take.request for take in takes],
            job_ids=[take.id for take in takes],
            owner=owner_for(set_job.user_id),
            out_dirs=[services.config.out_dir / take.id for take in takes],
            on_progress=on_progress,
        )
    except GenerationError as error:
        outcomes = [error] * len(takes)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("set %s crashed", set_job.id)
        crash = GenerationError("something went wrong on our side; it has been logged.")
        outcomes = [crash] * len(takes)
    await editor.close()
    return await _settle(services, set_job, takes, outcomes, surface)


async def _settle(
    services: Services,
    set_job: JobRecord,
    takes: list[JobRecord],
    outcomes: Sequence[ClipFiles | GenerationError],
    surface: Surface,
) -> JobRecord:
    store = services.store
    finished: list[tuple[int, JobRecord]] = []
    missing: list[tuple[int, str]] = []
    for number, (take, outcome) in enumerate(zip(takes, outcomes, strict=True), start=1):
        if isinstance(outcome, ClipFiles):
            await store.mark_done(take.id, outcome)
            finished.append((number, replace(take, status=Status.DONE, files=outcome)))
        elif isinstance(outcome, JobCancelled):
            await store.mark_cancelled(take.id)
            missing.append((number, "cancelled"))
        else:
            await store.mark_failed(take.id, str(outcome))
            missing.append((number, str(outcome)))
    if not finished:
        if all(isinstance(o, JobCancelled) for o in outcomes):
            await store.mark_cancelled(set_job.id)
            await show_final(surface, set_job.id, messages.cancelled_text(set_job))
            return replace(set_job, status=Status.CANCELLED)
        error = missing[0][1]
        await store.mark_failed(set_job.id, error)
        await show_final(surface, set_job.id, messages.failed_text(set_job, error))
        return replace(set_job, status=Status.FAILED, error=error)
    files = await _set_files(services, set_job, [take for _, take in finished])
    await store.mark_done(set_job.id, files)
    done = replace(set_job, status=Status.DONE, files=files)
    await post_takes(services, done, finished, surface, note=missing_note(missing))
    return done


async def _set_files(services: Services, set_job: JobRecord, takes: list[JobRecord]) -> ClipFiles:
    """The set's own files: take 1's sound and raw image, and the combined picture."""
    first = takes[0].files
    assert first is not None
    picture = first.picture_png
    if services.combine_pictures is not None:
        pictures = [
            take.files.picture_png
            for take in takes
            if take.files is not None and take.files.picture_png is not None
        ]
        target = services.config.out_dir / set_job.id / "takes.png"
        try:
            data = await asyncio.to_thread(services.combine_pictures, pictures)
            await asyncio.to_thread(_write_bytes, target, data)
            picture = target
        except Exception:  # the sounds are made: post them with take 1's picture
            log.exception("could not combine the pictures of set %s", set_job.id)
    return replace(first, picture_png=picture, timings={})


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def choose_set_uploads(
    set_job: JobRecord, takes: Sequence[tuple[int, JobRecord]], limit: int
) -> tuple[list[Upload], str]:
    """Every take's MP3 and the combined picture; what does not fit the limit is left off."""
    uploads = [
        Upload(f"take{number}-{take.id}.mp3", path=take.files.mp3)
        for number, take in takes
        if take.files is not None
    ]
    if set_job.files is not None:
        uploads.append(Upload(f"takes-{set_job.id}.png", path=set_job.files.picture_png))
    kept: list[Upload] = []
    left: list[str] = []
    for upload in uploads:
        if sum(u.size for u in kept) + upload.size <= limit:
            kept.append(upload)
        else:
            left.append(upload.filename)
    note = ""
    if left:
        note = (
            f"ℹ️ {', '.join(left)} did not fit this server's upload limit "
            f"({limit / 2**20:.0f} MiB), so {'it was' if len(left) == 1 else 'they were'} left off."
        )
    return kept, note


async def post_takes(
    services: Services,
    set_job: JobRecord,
    takes: Sequence[tuple[int, JobRecord]],
    surface: Surface,
    *,
    note: str = "",
) -> discord.Message | None:
    """Show a finished set (files, per-take buttons) and remember the post as the set's."""
    uploads, size_note = choose_set_uploads(set_job, takes, surface.filesize_limit)
    text = set_result_text(set_job, takes, " ".join(n for n in (note, size_note) if n))
    picture = next((u.filename for u in uploads if u.filename.endswith(".png")), None)
    embed = set_embed(set_job, takes, model_name=services.config.model_name, picture=picture)
    message = await show_final(
        surface, set_job.id, text, uploads, takes_view(set_job.id, takes), [embed]
    )
    if message is not None:
        await services.store.record_post(
            set_job.id,
            message_id=message.id,
            channel_id=message.channel.id,
            guild_id=message.guild.id if message.guild is not None else None,
        )
    return message


# --- handlers -----------------------------------------------------------------------------


async def _set_or_refuse(
    interaction: discord.Interaction[Any], services: Services, set_id: str
) -> tuple[JobRecord, list[JobRecord]] | None:
    set_job = await find_job(services.store, set_id, Scope.of(interaction))
    takes = await services.store.takes_of(set_id, interaction.guild_id) if set_job else []
    if set_job is None or not takes:
        await reply(interaction, unknown_job(set_id))
        return None
    return set_job, takes


async def on_set_reroll(interaction: discord.Interaction[Any], set_id: str) -> None:
    """The same number of takes again at new seeds; the new set's parent is this one."""
    services = services_of(interaction.client)
    found = await _set_or_refuse(interaction, services, set_id)
    if found is None:
        return
    set_job, takes = found

    def build(cfg: GuildConfig) -> list[GenerationRequest]:
        base = derive(
            services.config, set_job, REROLL, rng=services.rng, blocked_words=cfg.blocked_words
        )
        return take_requests(base, len(takes))

    await launch_takes(interaction, build, parent=set_job, action=REROLL)


async def on_set_cancel(interaction: discord.Interaction[Any], set_id: str) -> None:
    services = services_of(interaction.client)
    found = await _set_or_refuse(interaction, services, set_id)
    if found is None:
        return
    set_job, _ = found
    if not may_manage(interaction, set_job):
        await reply(interaction, "⚠️ Only the person who asked (or a moderator) may cancel this.")
        return
    cancelled = await services.dispatcher.cancel(set_job.id)
    text = (
        f"🛑 Cancelling job {set_job.display_id}."
        if cancelled
        else f"Job {set_job.display_id} could not be cancelled (it may have just finished)."
    )
    await reply(interaction, text)
