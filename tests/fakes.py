"""Test-only stand-ins for the bot's collaborators: in-process stores and a gated runner.

They live here, not in production modules, so that nothing shipped exists only for tests.
Sharing one store between two bot (or controller) generations is how tests simulate a restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from bot.radio.store import RadioGuildSettings, SavedRadio
from bot.store import (
    ANY_GUILD,
    TAKE,
    AnyGuild,
    GuildConfig,
    JobRecord,
    Preferences,
    Recovered,
    Status,
)
from generation.radio_plan import RadioState
from generation.radio_sim import SyntheticClip, SyntheticGenerator
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    Priority,
    Progress,
    ProgressCallback,
)


def write_clip(
    out_dir: Path, stem: str, *, mp3_bytes: int = 2048, png_bytes: int = 512
) -> ClipFiles:
    """Small stand-in files with the names and roles a real clip has."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mp3 = out_dir / f"{stem}.mp3"
    raw = out_dir / f"{stem}.raw.png"
    picture = out_dir / f"{stem}.png"
    params = out_dir / f"{stem}.json"
    mp3.write_bytes(b"ID3" + bytes(mp3_bytes - 3))
    raw.write_bytes(b"\x89PNG" + bytes(png_bytes - 4))
    picture.write_bytes(b"\x89PNG" + bytes(png_bytes - 4))
    params.write_text(json.dumps({"stem": stem}))
    return ClipFiles(mp3=mp3, raw_png=raw, picture_png=picture, params_json=params, duration_s=5.11)


@dataclass
class Submitted:
    job_id: str
    owner: str
    request: GenerationRequest
    out_dir: Path


class GatedRunner:
    """A ``JobRunner`` whose jobs wait at a gate the test opens (``auto=True``: never wait).

    It reports positions in submission order and emits the progress a real engine emits
    (queued, two steps with a preview, encoding), so status edits can be asserted.
    """

    def __init__(
        self,
        *,
        auto: bool = False,
        stepwise: bool = False,
        mp3_bytes: int = 2048,
        png_bytes: int = 512,
    ) -> None:
        self.auto = auto
        self.stepwise = stepwise
        self._steps: dict[str, asyncio.Semaphore] = {}
        self.mp3_bytes = mp3_bytes
        self.png_bytes = png_bytes
        self.submitted: list[Submitted] = []
        self.batches: list[tuple[str, ...]] = []
        self.queued_takes: set[str] = set()  # takes of a set not yet at their gate
        self.waiting: list[str] = []
        self.running: set[str] = set()
        self.cancelled: set[str] = set()
        self.failures: dict[str, Exception] = {}
        self._gates: dict[str, asyncio.Event] = {}

    def gate(self, job_id: str) -> asyncio.Event:
        return self._gates.setdefault(job_id, asyncio.Event())

    def release(self, job_id: str) -> None:
        self.gate(job_id).set()

    def advance(self, job_id: str) -> None:
        """In ``stepwise`` mode, let the job emit its next progress event."""
        self._stage(job_id).release()

    def _stage(self, job_id: str) -> asyncio.Semaphore:
        return self._steps.setdefault(job_id, asyncio.Semaphore(0))

    async def _next_stage(self, job_id: str) -> None:
        if self.stepwise:
            await self._stage(job_id).acquire()

    def release_all(self) -> None:
        self.auto = True
        for submitted in self.submitted:
            self.release(submitted.job_id)

    async def render(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        out_dir: Path,
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> ClipFiles:
        emit = on_progress or (lambda progress: None)
        self.submitted.append(Submitted(job_id, owner, request, out_dir))
        self.waiting.append(job_id)
        emit(Progress(job_id, "queued", position=self.position(job_id), eta_s=30.0))
        gate = self.gate(job_id)
        if self.auto:
            gate.set()
        try:
            await gate.wait()
        finally:
            if job_id in self.waiting:
                self.waiting.remove(job_id)
        if job_id in self.cancelled:
            raise JobCancelled("The job was cancelled.")
        self.running.add(job_id)
        try:
            total = 2
            for step in (1, 2):
                await self._next_stage(job_id)
                emit(
                    Progress(
                        job_id,
                        "running",
                        step,
                        total,
                        position=0,
                        eta_s=1.0,
                        preview_png=b"\x89PNG-preview",
                    )
                )
            await self._next_stage(job_id)
            emit(Progress(job_id, "encoding", total, total, position=0))
            await self._next_stage(job_id)
            if job_id in self.failures:
                raise self.failures[job_id]
            return write_clip(out_dir, job_id, mp3_bytes=self.mp3_bytes, png_bytes=self.png_bytes)
        finally:
            self.running.discard(job_id)

    async def render_takes(
        self,
        requests: Sequence[GenerationRequest],
        *,
        job_ids: Sequence[str],
        owner: str,
        out_dirs: Sequence[Path],
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> list[ClipFiles | GenerationError]:
        """Each take through ``render`` in turn, in the caller's task (so SimCord's declared
        wait covers it); records the set as one batch."""
        self.batches.append(tuple(job_ids))
        self.queued_takes.update(job_ids)
        outcomes: list[ClipFiles | GenerationError] = []
        for request, job_id, out_dir in zip(requests, job_ids, out_dirs, strict=True):
            self.queued_takes.discard(job_id)
            try:
                outcomes.append(
                    await self.render(
                        request,
                        job_id=job_id,
                        owner=owner,
                        out_dir=out_dir,
                        on_progress=on_progress,
                    )
                )
            except GenerationError as error:
                outcomes.append(error)
        return outcomes

    def cancel(self, job_id: str) -> bool:
        if job_id in self.waiting or job_id in self.queued_takes:
            self.cancelled.add(job_id)
            self.release(job_id)
            return True
        return False

    def position(self, job_id: str) -> int | None:
        if job_id in self.running:
            return 0
        if job_id in self.waiting:
            return self.waiting.index(job_id) + 1
        return None


@dataclass
class MemoryStore:
    """An in-process ``bot.store.JobStore`` for tests that need no database.

    Sharing one instance between two bot generations is how tests simulate a restart.
    """

    jobs: dict[str, JobRecord] = field(default_factory=dict)
    posts: dict[int, str] = field(default_factory=dict)
    triggers: list[dict[str, object]] = field(default_factory=list)
    configs: dict[int, GuildConfig] = field(default_factory=dict)
    prefs: dict[int, Preferences] = field(default_factory=dict)
    _next_id: int = 1

    async def create_job(
        self,
        request: GenerationRequest,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        parent_id: str | None = None,
        partner_id: str | None = None,
        action: str | None = None,
    ) -> JobRecord:
        job_id = str(self._next_id)
        self._next_id += 1
        record = JobRecord(
            id=job_id,
            request=request,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            parent_id=parent_id,
            partner_id=partner_id,
            action=action,
        )
        self.jobs[job_id] = record
        return record

    async def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    async def job_for_message(self, message_id: int) -> JobRecord | None:
        job_id = self.posts.get(message_id)
        return self.jobs.get(job_id) if job_id is not None else None

    async def recent_jobs(
        self, user_id: int, limit: int = 10, *, guild_id: AnyGuild = ANY_GUILD
    ) -> list[JobRecord]:
        mine = [
            job
            for job in self.jobs.values()
            if job.user_id == user_id and (guild_id == ANY_GUILD or job.guild_id == guild_id)
        ]
        return sorted(mine, key=lambda job: int(job.id), reverse=True)[:limit]

    async def active_jobs(self) -> list[JobRecord]:
        return [job for job in self.jobs.values() if job.status.active]

    def _set(self, job_id: str, **changes: object) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], **changes)  # type: ignore[arg-type]

    async def mark_running(self, job_id: str) -> None:
        self._set(job_id, status=Status.RUNNING)

    async def mark_done(self, job_id: str, files: ClipFiles) -> None:
        self._set(job_id, status=Status.DONE, files=files)

    async def mark_failed(self, job_id: str, error: str) -> None:
        self._set(job_id, status=Status.FAILED, error=error)

    async def mark_cancelled(self, job_id: str) -> None:
        self._set(job_id, status=Status.CANCELLED)

    async def record_post(
        self, job_id: str, *, message_id: int, channel_id: int, guild_id: int | None
    ) -> None:
        self.posts[message_id] = job_id

    async def forget_post(self, message_id: int) -> None:
        self.posts.pop(message_id, None)

    async def record_status_message(self, job_id: str, *, channel_id: int, message_id: int) -> None:
        self._set(job_id, status_message=(channel_id, message_id))

    async def record_trigger(
        self,
        *,
        source: str,
        key: str,
        message_id: int,
        channel_id: int | None,
        guild_id: int | None,
        user_id: int,
        source_job_id: str | None,
        job_id: str | None,
    ) -> None:
        self.triggers.append(
            {
                "source": source,
                "key": key,
                "message_id": message_id,
                "user_id": user_id,
                "source_job_id": source_job_id,
                "job_id": job_id,
            }
        )

    async def guild_config(self, guild_id: int) -> GuildConfig:
        return self.configs.get(guild_id, GuildConfig())

    async def save_guild_config(
        self, guild_id: int, config: GuildConfig, *, updated_by: int
    ) -> None:
        self.configs[guild_id] = config

    async def preferences(self, user_id: int) -> Preferences:
        return self.prefs.get(user_id, Preferences())

    async def save_preferences(self, user_id: int, preferences: Preferences) -> None:
        self.prefs[user_id] = preferences

    async def takes_of(self, set_id: str, guild_id: int | None) -> list[JobRecord]:
        parent = self.jobs.get(set_id)
        if parent is None or parent.guild_id != guild_id:
            return []
        takes = [j for j in self.jobs.values() if j.parent_id == set_id and j.action == TAKE]
        return sorted(takes, key=lambda job: int(job.id))

    async def recover(self) -> Recovered:
        for job in await self.active_jobs():
            self._set(job.id, status=Status.QUEUED)
        requeued = sorted(await self.active_jobs(), key=lambda job: int(job.id))
        return Recovered(requeued=requeued, failed=[])


@dataclass
class MemoryRadioStore:
    """In-process ``bot.radio.store.RadioStore``; sharing one between two controllers simulates
    a restart."""

    sessions: dict[int, SavedRadio] = field(default_factory=dict)
    stopped: dict[int, str] = field(default_factory=dict)
    paused: dict[int, bool] = field(default_factory=dict)
    clips: dict[int, list[str]] = field(default_factory=dict)
    guilds: dict[int, RadioGuildSettings] = field(default_factory=dict)

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int:
        for session_id, saved in list(self.sessions.items()):
            if saved.guild_id == guild_id and session_id not in self.stopped:
                self.stopped[session_id] = "replaced by a new radio session"
        session_id = len(self.sessions) + 1
        self.sessions[session_id] = SavedRadio(
            session_id, guild_id, voice_channel_id, text_channel_id, started_by, state
        )
        return session_id

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        self.sessions[session_id] = replace(self.sessions[session_id], state=state)
        self.paused[session_id] = paused

    async def set_message(self, session_id: int, message_id: int | None) -> None:
        self.sessions[session_id] = replace(self.sessions[session_id], message_id=message_id)

    async def guild_settings(self, guild_id: int) -> RadioGuildSettings:
        return self.guilds.get(guild_id, RadioGuildSettings())

    async def save_guild_settings(
        self, guild_id: int, settings: RadioGuildSettings, *, updated_by: int
    ) -> None:
        if not 0 <= settings.volume_pct <= 200:
            raise ValueError("The radio's volume must be a whole percent, 0 to 200.")
        self.guilds[guild_id] = settings

    async def add_clip(self, session_id: int, job_id: str) -> None:
        self.clips.setdefault(session_id, []).append(job_id)

    async def close_session(self, session_id: int, reason: str) -> None:
        self.stopped.setdefault(session_id, reason)

    async def active_sessions(self) -> list[SavedRadio]:
        return [s for i, s in self.sessions.items() if i not in self.stopped]


class ImageGenerator(SyntheticGenerator):
    """The synthetic radio stand-in, plus a raw spectrogram image like the model's (one grey
    shade per seed), so the now-playing strip has something to show."""

    async def __call__(self, request: GenerationRequest, job_id: str) -> SyntheticClip:
        clip = await super().__call__(request, job_id)
        shade = (request.start.seed * 37) % 256
        image = Image.new("RGB", (512, 512), (shade, shade, shade))
        return ImageClip(clip.audio, clip.sample_rate, job_id, image)


class ImageClip(SyntheticClip):
    def __init__(self, audio: Any, rate: int, job_id: str, image: Image.Image) -> None:
        super().__init__(audio, rate, job_id)
        object.__setattr__(self, "raw_image", image)
