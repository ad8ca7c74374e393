"""A job's road through the bot: admitted, queued, shown while it runs, delivered or explained.

The event loop only ever *awaits* the runner: generation happens in the engine's worker, and
progress arrives through a callback that may fire on another thread, so it is handed to the loop
with ``call_soon_threadsafe``. Status edits are coalesced (the newest progress wins) and
throttled by ``progress_interval_s``; they never delay generation or the final delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import discord

from bot import messages
from bot.config import BotConfig
from bot.posts import RawButton, WholeTrackButton, result_embed
from bot.store import TAKE, TAKES, GuildConfig, JobRecord, JobStore, Recovered, Status
from bot.surfaces import ChannelSurface, RememberedSurface, Surface, Upload, show_final
from generation.scheduling import OwnerLimit, QueueFull
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    JobRunner,
    Mode,
    ModelError,
    Progress,
)
from generation.validate import validate_request

log = logging.getLogger(__name__)

Shrinker = Callable[[Path, int, float], Awaitable[Path | None]]
"""``(mp3, limit_bytes, duration_s)``: re-encode to fit (a lower bitrate); ``None`` if it cannot."""
ViewBuilder = Callable[[str], discord.ui.View]
"""job id -> the buttons under one of that job's posts."""


@dataclass(frozen=True)
class JobViews:
    """The buttons under a job's status and result posts (``bot.buttons.JOB_VIEWS``).

    Handed in like ``shrink``: the dispatcher draws the buttons but never learns what a click
    does, so the handlers that launch jobs through it can import it without a circle.
    """

    status: ViewBuilder
    result: ViewBuilder


def owner_for(user_id: int) -> str:
    return f"user:{user_id}"


def limits_for(config: BotConfig, guild: GuildConfig) -> tuple[int, int]:
    """``(jobs per user, queue cap)`` for a guild: its overrides, never above the bot's own.

    A guild may only tighten the limits: the engine is shared by every guild and enforces
    the bot-wide ones itself, so a looser override would let a job past the private refusal
    and then fail in public after it was written.
    """
    per_user = min(
        guild.max_active_per_user or config.max_active_per_user, config.max_active_per_user
    )
    capacity = min(guild.max_queue_length or config.max_queue_length, config.max_queue_length)
    return per_user, capacity


def choose_uploads(job: JobRecord, files: ClipFiles, limit: int) -> tuple[list[Upload], str]:
    """MP3 and picture when they fit the upload limit, else what fits, with a note saying so."""
    mp3 = Upload(f"riff-{job.id}.mp3", path=files.mp3)
    if files.picture_png is None:  # a radio clip: nothing to look at
        if mp3.size <= limit:
            return [mp3], ""
        return [], messages.too_big_note("MP3", mp3.size, limit)
    picture = Upload(f"riff-{job.id}.png", path=files.picture_png)
    if mp3.size + picture.size <= limit:
        return [mp3, picture], ""
    if mp3.size <= limit:
        return [mp3], messages.too_big_note("spectrogram picture", picture.size, limit)
    note = messages.too_big_note("MP3", mp3.size, limit)
    return ([picture], note) if picture.size <= limit else ([], note)


class StatusEditor:
    """Keeps one message showing the newest status without queueing up stale edits."""

    def __init__(
        self,
        surface: Surface,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._surface = surface
        self._spawn = spawn
        self._interval = interval_s
        self._clock = clock
        self._latest: tuple[str, list[Upload], discord.ui.View | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last = float("-inf")
        self.edits = 0

    def push(
        self,
        content: str,
        uploads: list[Upload],
        view: discord.ui.View | None,
        *,
        force: bool = False,
    ) -> None:
        self._latest = (content, uploads, view)
        if self._task is not None and not self._task.done():
            return  # the running flush picks the newest status up when it finishes
        if force or self._clock() - self._last >= self._interval:
            self._task = self._spawn(self._flush())

    async def _flush(self) -> None:
        while self._latest is not None:
            content, uploads, view = self._latest
            self._latest = None
            try:
                await self._surface.show(content, uploads=uploads, view=view)
                self.edits += 1
            except discord.HTTPException as error:
                log.warning("status edit failed: %s", error)
            self._last = self._clock()

    async def close(self) -> None:
        """Drop pending statuses and wait for an edit in flight, so the result comes last."""
        self._latest = None
        if self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await self._task


@dataclass
class LiveJob:
    """A job the dispatcher is running, with what its status message shows right now."""

    job: JobRecord
    surface: Surface
    editor: StatusEditor
    progress: Progress | None = None
    position: int | None = None
    started: bool = False
    preview: bytes | None = None


class Dispatcher:
    """Admits jobs, runs each to the end, and keeps their status messages honest."""

    def __init__(
        self,
        runner: JobRunner,
        store: JobStore,
        config: BotConfig,
        *,
        views: JobViews,
        shrink: Shrinker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.store = store
        self.config = config
        self.views = views
        self.shrink = shrink
        self.clock = clock
        self.live: dict[str, LiveJob] = {}
        """The jobs running now, by job id."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._admission = asyncio.Lock()

    # --- background work ----------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for every background task (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- admission ----------------------------------------------------------------------
    async def admit(
        self,
        request: GenerationRequest,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        guild_config: GuildConfig | None = None,
        parent_id: str | None = None,
        partner_id: str | None = None,
        action: str | None = None,
    ) -> JobRecord:
        """Write the job row, or refuse with the same words the engine would use.

        Checking here (rather than only when the engine refuses) lets the refusal be an
        ephemeral reply instead of a public message, and a lock makes check-and-write atomic
        so two quick clicks cannot both slip under the limit.
        """
        request = self._validated(request)
        async with self._admission:
            await self._check_room(user_id, guild_config)
            return await self.store.create_job(
                request,
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                parent_id=parent_id,
                partner_id=partner_id,
                action=action,
            )

    async def admit_takes(
        self,
        requests: list[GenerationRequest],
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        guild_config: GuildConfig | None = None,
        parent_id: str | None = None,
        action: str | None = None,
    ) -> tuple[JobRecord, list[JobRecord]]:
        """Write a set's row and one row per take under the same check as ``admit``.

        The set counts as one job against the limits (its takes are one batch on the
        engine); the takes point at the set as their parent.
        """
        requests = [self._validated(request) for request in requests]
        async with self._admission:
            await self._check_room(user_id, guild_config)
            parent = await self.store.create_job(
                requests[0],
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                parent_id=parent_id,
                action=action or TAKES,
            )
            takes = [
                await self.store.create_job(
                    request,
                    user_id=user_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    parent_id=parent.id,
                    action=TAKE,
                )
                for request in requests
            ]
            return parent, takes

    def _validated(self, request: GenerationRequest) -> GenerationRequest:
        """The one gate, before any row: a raw payload can carry what Discord's own option
        checks would stop (a seed of 2**64, 9999 steps); the engine checks the files later."""
        return validate_request(
            request, max_prompt_chars=self.config.max_prompt_chars, check_sources=False
        )

    async def _check_room(self, user_id: int, guild_config: GuildConfig | None) -> None:
        per_user, capacity = limits_for(self.config, guild_config or GuildConfig())
        active = [
            job
            for job in await self.store.active_jobs()
            if job.request.mode != Mode.RADIO and job.action != TAKE  # a set counts once
        ]
        if sum(1 for job in active if job.user_id == user_id) >= per_user:
            raise OwnerLimit(owner_for(user_id), per_user)
        if len(active) >= capacity:
            raise QueueFull(capacity)

    # --- running ------------------------------------------------------------------------
    async def run(
        self, job: JobRecord, surface: Surface, *, names: Mapping[str, str] | None = None
    ) -> JobRecord:
        """Queue ``job`` on the engine, keep its message current, deliver; returns the final row.

        ``names`` maps upload paths to the names their senders gave them, so a failure can
        name the person's file instead of a path on this server.
        """

        async def remember(channel_id: int, message_id: int) -> None:
            await self.store.record_status_message(
                job.id, channel_id=channel_id, message_id=message_id
            )

        surface = RememberedSurface(surface, remember)
        editor = StatusEditor(
            surface, self.spawn, interval_s=self.config.progress_interval_s, clock=self.clock
        )
        live = LiveJob(job=job, surface=surface, editor=editor)
        self.live[job.id] = live
        loop = asyncio.get_running_loop()
        # Progress may arrive on the engine's thread, or hopped onto the loop in an empty
        # context; run it in this task's context so edits behave like the task's own.
        context = contextvars.copy_context()

        def on_progress(progress: Progress) -> None:
            try:
                same_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                same_loop = False
            if same_loop:
                loop.call_soon(self._on_progress, live, progress, context=context)
            else:
                loop.call_soon_threadsafe(self._on_progress, live, progress, context=context)

        render = asyncio.ensure_future(
            self.runner.render(
                job.request,
                job_id=job.id,
                owner=owner_for(job.user_id),
                out_dir=self.config.out_dir / job.id,
                on_progress=on_progress,
            )
        )
        try:
            await asyncio.sleep(0)  # let the engine enqueue it, so the first status has a place
            self._show_queued(live, force=True)
            self._refresh_positions()  # a newcomer may go ahead of others (round robin)
            files = await render
        except asyncio.CancelledError:
            render.cancel()
            raise
        except JobCancelled:
            final = await self._finish_cancelled(live)
        except ModelError as error:
            # The operator's problem, not the person's: the details go to the log only.
            log.error("job %s: the model could not be used: %s", job.id, error)
            final = await self._finish_failed(live, messages.MISCONFIGURED)
        except GenerationError as error:
            shown = messages.public_error(str(error), names)
            if shown != str(error):
                log.warning("job %s failed: %s", job.id, error)
            final = await self._finish_failed(live, shown)
        except Exception:
            log.exception("job %s crashed", job.id)
            final = await self._finish_failed(
                live, "something went wrong on our side; it has been logged. Please try again."
            )
        else:
            final = await self._deliver(live, files)
        finally:
            self.live.pop(job.id, None)
            self._refresh_positions()
        return final

    def _show_queued(self, live: LiveJob, *, force: bool) -> None:
        position = self.runner.position(live.job.id)
        if position == 0 and not live.started:
            return  # already running: the first progress event will say so
        live.position = position
        progress = live.progress if live.progress and live.progress.state == "queued" else None
        eta_s = progress.eta_s if progress is not None else None
        note = progress.note if progress is not None else None
        shown = Progress(live.job.id, "queued", position=position, eta_s=eta_s, note=note)
        live.editor.push(
            messages.status_text(live.job, shown, live.job.user_id),
            [],
            self.views.status(live.job.id),
            force=force,
        )

    def _on_progress(self, live: LiveJob, progress: Progress) -> None:
        if live.job.id not in self.live:
            return  # a late event after the job finished
        previous = live.progress
        live.progress = progress
        if progress.state == "queued":
            changed = progress.position != live.position
            live.position = progress.position
            live.editor.push(
                messages.status_text(live.job, progress, live.job.user_id),
                [],
                self.views.status(live.job.id),
                force=changed,
            )
            return
        state_changed = previous is None or previous.state != progress.state
        if not live.started:
            live.started = True
            self.spawn(self._mark_running(live.job.id))
            self._refresh_positions()
        if progress.preview_png:
            live.preview = progress.preview_png  # kept: encoding still shows the last picture
        uploads = [Upload(f"preview-{live.job.id}.png", data=live.preview)] if live.preview else []
        live.editor.push(
            messages.status_text(live.job, progress, live.job.user_id),
            uploads,
            self.views.status(live.job.id),
            force=state_changed,
        )

    async def _mark_running(self, job_id: str) -> None:
        try:
            await self.store.mark_running(job_id)
        except Exception:
            log.exception("could not mark job %s running", job_id)

    def _refresh_positions(self) -> None:
        """Positions move when a job starts or leaves: tell everyone still waiting."""
        for live in list(self.live.values()):
            if live.started:
                continue
            if self.runner.position(live.job.id) != live.position:
                self._show_queued(live, force=True)

    def forget_upload(self, job: JobRecord) -> None:
        """Delete the upload a refused or failed job brought (a 20-minute WAV must not stay
        behind its refusal). Only the job the upload came with owns it: a reroll of a
        finished remix points at the same file."""
        source = job.request.seed_image
        if source is None or job.action is not None:
            return
        uploads = (self.config.out_dir / "uploads").resolve()
        path = Path(source).resolve()
        if path.parent == uploads:
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not delete upload of job %s: %s", job.id, error)

    async def _finish_cancelled(self, live: LiveJob) -> JobRecord:
        await live.editor.close()
        self.forget_upload(live.job)
        await self.store.mark_cancelled(live.job.id)
        await show_final(live.surface, live.job.id, messages.cancelled_text(live.job))
        return replace(live.job, status=Status.CANCELLED)

    async def _finish_failed(self, live: LiveJob, error: str) -> JobRecord:
        await live.editor.close()
        self.forget_upload(live.job)
        await self.store.mark_failed(live.job.id, error)
        await show_final(live.surface, live.job.id, messages.failed_text(live.job, error))
        return replace(live.job, status=Status.FAILED, error=error)

    async def _deliver(self, live: LiveJob, files: ClipFiles) -> JobRecord:
        await live.editor.close()
        await self.store.mark_done(live.job.id, files)
        job = replace(live.job, status=Status.DONE, files=files)
        message = await self.post_result(job, live.surface)
        if message is None:
            log.warning("job %s finished but its result could not be posted", job.id)
        return job

    async def post_result(self, job: JobRecord, surface: Surface) -> discord.Message | None:
        """Show a finished job with its files and remix buttons, and remember the post."""
        assert job.files is not None
        files = job.files
        limit = surface.filesize_limit
        uploads, note = choose_uploads(job, files, limit)
        if self.shrink is not None and not any(u.filename.endswith(".mp3") for u in uploads):
            smaller = await self.shrink(files.mp3, limit, files.duration_s)
            if smaller is not None:
                uploads, note = choose_uploads(job, replace(files, mp3=smaller), limit)
                if any(u.filename.endswith(".mp3") for u in uploads):
                    shrunk = "ℹ️ The MP3 was re-encoded at a lower bitrate to fit this server."
                    note = f"{shrunk} {note.removeprefix('ℹ️ ')}".strip()
        picture = next((u.filename for u in uploads if u.filename.endswith(".png")), None)
        embed = result_embed(job, model_name=self.config.model_name, picture=picture)
        view = self.views.result(job.id)
        view.add_item(RawButton(job.id))
        if job.request.mode is Mode.EXTEND:
            view.add_item(WholeTrackButton(job.id))
        message = await show_final(
            surface,
            job.id,
            messages.result_text(job, job.user_id, note),
            uploads,
            view,
            [embed],
        )
        if message is not None:
            await self.store.record_post(
                job.id,
                message_id=message.id,
                channel_id=message.channel.id,
                guild_id=message.guild.id if message.guild is not None else None,
            )
        return message

    # --- cancel and recovery ------------------------------------------------------------
    async def cancel(self, job_id: str) -> bool:
        job = await self.store.get_job(job_id)
        if job is not None and job.action == TAKES and job.status.active:
            # A set runs as its takes: cancel those; the set settles when they come back.
            takes = await self.store.takes_of(job_id, job.guild_id)
            return any([self.runner.cancel(take.id) for take in takes])
        if self.runner.cancel(job_id):
            return True
        if job is not None and job.status.active and job_id not in self.live:
            await self.store.mark_cancelled(job_id)  # orphaned by a crash: nothing runs it
            return True
        return False

    async def recover(self, client: discord.Client, recovered: Recovered) -> list[JobRecord]:
        """Resubmit the jobs ``store.recover()`` handed back; results go to their channel.

        Jobs the database had to give up on (inputs gone) are explained in their channel, so
        nothing accepted disappears silently. ``recovered`` must be taken from the store
        before this process accepts work (``RiffBot.setup_hook``), or new jobs would be
        mistaken for orphans.
        """
        started = []
        for job in recovered.failed:
            if job.request.mode is Mode.RADIO:
                continue  # nobody asked for a radio clip by itself: nothing to explain
            surface = await _channel_surface(client, job)
            if surface is not None:
                with contextlib.suppress(discord.HTTPException):
                    await surface.show(messages.failed_text(job, job.error or "interrupted"))
        for job in recovered.requeued:
            if job.action == TAKES:
                # Its takes are requeued too and are delivered one by one; the set's own
                # row (the combined post) is not rebuilt after a restart.
                await self.store.mark_failed(
                    job.id, "interrupted by a restart; its takes were delivered one by one"
                )
                continue
            if job.request.mode is Mode.RADIO:
                # A radio clip belongs to a station that died with the process; the radio
                # resumes from its saved session, so the clip must not come back as a post.
                await self.store.mark_cancelled(job.id)
                continue
            if job.id in self.live:
                continue
            surface = await _channel_surface(client, job)
            if surface is None:
                await self.store.mark_failed(
                    job.id, "the channel it was asked in is gone, so it could not be delivered"
                )
                continue
            self.spawn(self.run(job, surface))
            started.append(job)
        return started


async def _channel_surface(client: discord.Client, job: JobRecord) -> ChannelSurface | None:
    """Where a recovered job shows itself: its old status message (before the restart)
    becomes its result, else a new message in the channel it was asked in."""
    channel_id, message_id = job.status_message or (job.channel_id, None)
    if channel_id is None:
        return None
    return await ChannelSurface.for_channel(client, channel_id, message_id=message_id)
