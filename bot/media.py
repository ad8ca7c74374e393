"""Small ffmpeg jobs for the bot: how long an upload is, and shrinking an MP3 to fit a limit.

The bot never decodes audio itself: ffmpeg (shipped by ``imageio-ffmpeg``) runs as a child
process, awaited with asyncio, so the event loop keeps serving everyone else meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

_DURATION = re.compile(r"Duration:\s*(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def parse_duration(ffmpeg_banner: str) -> float | None:
    """Seconds from ffmpeg's ``Duration: HH:MM:SS.ss`` line; ``None`` if absent (``N/A``)."""
    match = _DURATION.search(ffmpeg_banner)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


async def probe_duration(
    path: Path, *, ffmpeg: str | None = None, timeout_s: float = 20.0
) -> float | None:
    """How long an audio file plays, from its header (no decoding); ``None`` when unknown."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg or ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-i",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, banner = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    return parse_duration(banner.decode(errors="replace"))


BITRATES_KBPS = (96, 64, 48, 32)
"""Tried in order; below 32 kbps music is not worth posting."""


def bitrate_for(limit_bytes: int, duration_s: float) -> int | None:
    """The highest bitrate whose MP3 of ``duration_s`` fits in ``limit_bytes`` (5% headroom)."""
    if duration_s <= 0:
        return BITRATES_KBPS[0]
    for kbps in BITRATES_KBPS:
        if kbps * 1000 / 8 * duration_s * 1.05 <= limit_bytes:
            return kbps
    return None


class FfmpegShrinker:
    """``Shrinker`` for ``bot.flow.Dispatcher``: writes ``<name>.<kbps>k.mp3`` next to the file."""

    def __init__(self, ffmpeg: str | None = None, *, timeout_s: float = 60.0) -> None:
        self.ffmpeg = ffmpeg
        self.timeout_s = timeout_s

    def _exe(self) -> str:
        if self.ffmpeg is None:
            self.ffmpeg = ffmpeg_exe()
        return self.ffmpeg

    async def __call__(self, mp3: Path, limit: int, duration_s: float) -> Path | None:
        kbps = bitrate_for(limit, duration_s)
        if kbps is None:
            return None
        target = mp3.with_name(f"{mp3.stem}.{kbps}k.mp3")
        process = await asyncio.create_subprocess_exec(
            self._exe(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(mp3),
            "-codec:a",
            "libmp3lame",
            "-b:a",
            f"{kbps}k",
            str(target),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, errors = await asyncio.wait_for(process.communicate(), self.timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None
        if process.returncode != 0:
            log.warning(
                "could not re-encode %s: %s", mp3.name, errors.decode(errors="replace")[-300:]
            )
            return None
        return target
