"""The flow's pure parts: what gets attached, and how status edits are coalesced."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.buttons import JOB_VIEWS
from bot.config import BotConfig
from bot.dispatcher import Dispatcher, StatusEditor, choose_uploads, limits_for
from bot.store import GuildConfig, JobRecord
from bot.surfaces import Upload
from generation.scheduling import OwnerLimit, QueueFull
from generation.types import ClipFiles, Endpoint, GenerationRequest, Mode
from tests.fakes import GatedRunner, MemoryStore


def _files(tmp_path: Path, mp3: int, png: int) -> ClipFiles:
    (tmp_path / "a.mp3").write_bytes(bytes(mp3))
    (tmp_path / "a.png").write_bytes(bytes(png))
    return ClipFiles(
        tmp_path / "a.mp3", tmp_path / "a.png", tmp_path / "a.png", tmp_path / "a.json", 5.0
    )


JOB = JobRecord(
    id="3",
    request=GenerationRequest(Mode.RIFF, Endpoint("x", 1)),
    user_id=1,
    guild_id=None,
    channel_id=None,
)


def test_uploads_fit_the_limit_or_say_what_was_left_off(tmp_path: Path) -> None:
    files = _files(tmp_path, mp3=600, png=300)
    both, note = choose_uploads(JOB, files, 1000)
    assert [u.filename for u in both] == ["riff-3.mp3", "riff-3.png"]
    assert note == ""
    mp3_only, note = choose_uploads(JOB, files, 700)
    assert [u.filename for u in mp3_only] == ["riff-3.mp3"]
    assert "spectrogram picture" in note
    picture_only, note = choose_uploads(JOB, files, 500)
    assert [u.filename for u in picture_only] == ["riff-3.png"]
    assert "MP3" in note
    nothing, note = choose_uploads(JOB, files, 100)
    assert nothing == []
    assert "upload limit" in note


def test_a_clip_without_a_picture_uploads_its_mp3_alone(tmp_path: Path) -> None:
    from dataclasses import replace

    files = replace(_files(tmp_path, mp3=600, png=300), picture_png=None)  # a radio clip
    mp3, note = choose_uploads(JOB, files, 1000)
    assert [u.filename for u in mp3] == ["riff-3.mp3"]
    assert note == ""
    nothing, note = choose_uploads(JOB, files, 500)
    assert nothing == []
    assert "MP3" in note


class RecordingSurface:
    def __init__(self) -> None:
        self.filesize_limit = 10
        self.shown: list[str] = []
        self.release = asyncio.Event()

    async def show(
        self,
        content: str,
        *,
        uploads: Sequence[Upload] = (),
        view: discord.ui.View | None = None,
        embeds: Sequence[discord.Embed] = (),
    ) -> discord.Message | None:
        self.shown.append(content)
        await self.release.wait()
        return None


async def test_status_edits_coalesce_to_the_newest_and_close_drops_the_rest() -> None:
    surface = RecordingSurface()
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        tasks.append(task)
        return task

    now = [0.0]
    editor = StatusEditor(surface, spawn, interval_s=5.0, clock=lambda: now[0])
    editor.push("one", [], None)
    await asyncio.sleep(0)
    editor.push("two", [], None)  # an edit is in flight: remembered, not queued
    editor.push("three", [], None)
    surface.release.set()
    await asyncio.gather(*tasks)
    assert surface.shown == ["one", "three"]

    editor.push("too soon", [], None)  # within the interval and not forced: not shown
    assert len(tasks) == 1
    editor.push("state change", [], None, force=True)
    await asyncio.gather(*tasks)
    assert surface.shown[-1] == "state change"
    now[0] = 100.0
    editor.push("later", [], None)
    await editor.close()
    await asyncio.gather(*tasks)
    assert surface.shown[-1] in ("later", "state change")
    assert editor.edits == len(surface.shown)


async def test_a_guild_may_tighten_the_limits_but_never_loosen_them(tmp_path: Path) -> None:
    # The engine enforces the bot-wide limits for every guild; a looser guild override would
    # write the job and then fail it in public instead of refusing it privately.
    config = BotConfig(out_dir=tmp_path, max_active_per_user=2, max_queue_length=3)
    dispatcher = Dispatcher(GatedRunner(), MemoryStore(), config, views=JOB_VIEWS)
    loose = GuildConfig(max_active_per_user=5, max_queue_length=50)
    request = GenerationRequest(Mode.RIFF, Endpoint("x", 1))

    async def admit(user_id: int) -> JobRecord:
        return await dispatcher.admit(
            request, user_id=user_id, guild_id=9, channel_id=9, guild_config=loose
        )

    await admit(1)
    await admit(1)
    with pytest.raises(OwnerLimit):
        await admit(1)
    await admit(2)
    with pytest.raises(QueueFull):
        await admit(3)
    assert limits_for(config, loose) == (2, 3)
    assert limits_for(config, GuildConfig(max_active_per_user=1, max_queue_length=2)) == (1, 2)
    assert limits_for(config, GuildConfig()) == (2, 3)
