"""The flow's pure parts: what gets attached, and how status edits are coalesced."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import discord

from bot.flow import StatusEditor, choose_uploads
from bot.store import JobRecord
from bot.surfaces import Upload
from generation.types import ClipFiles, Endpoint, GenerationRequest, Mode


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


class RecordingSurface:
    def __init__(self) -> None:
        self.filesize_limit = 10
        self.shown: list[str] = []
        self.release = asyncio.Event()

    async def show(
        self, content: str, *, uploads: Sequence[Upload] = (), view: discord.ui.View | None = None
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
