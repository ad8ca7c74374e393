"""Small media jobs for the bot: how long an upload is, and shrinking an MP3 to fit a limit.

The bot never decodes audio itself: the probe reads packet headers through PyAV in a worker
thread, and ffmpeg (shipped by ``imageio-ffmpeg``) re-encodes as a child process awaited with
asyncio, so the event loop keeps serving everyone else meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from generation.types import InvalidRequest

log = logging.getLogger(__name__)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def read_duration(path: Path) -> float:
    """Seconds the file's first audio stream plays, or ``InvalidRequest`` saying why not.

    PyAV opens the file with the same ffmpeg demuxers that decode it later (so whatever
    container ffmpeg reads is measured the same way), and the duration is the sum of the
    stream's packet durations, demuxed but not decoded: exact for variable-bitrate MP3s,
    whose header-less estimate from the first frame's bitrate can be off by a factor of two.
    Video and further audio streams are ignored; the first audio stream is the one that is
    decoded. Only when packets carry no durations do we fall back to the header.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidRequest(f"{path.name[:60]!r} has no audio stream.")
            stream = container.streams.audio[0]
            base = stream.time_base
            total = 0
            for packet in container.demux(stream):
                total += packet.duration or 0
            if total > 0 and base is not None:
                return float(total * base)
            if stream.duration and base is not None:
                return float(stream.duration * base)
            if container.duration:
                return float(container.duration / av.time_base)
    except av.FFmpegError as error:
        raise InvalidRequest(f"{path.name[:60]!r} could not be read as audio.") from error
    raise InvalidRequest(f"{path.name[:60]!r} does not say how long it is; try WAV or MP3.")


async def probe_duration(path: Path, *, timeout_s: float = 20.0) -> float | None:
    """How long an upload plays (see :func:`read_duration`), off the event loop; ``None``
    when probing takes longer than ``timeout_s``. Refusals raise ``InvalidRequest``."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read_duration, path), timeout_s)
    except TimeoutError:
        log.warning("probing %s took over %.0f s", path.name, timeout_s)
        return None


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
    """``Shrinker`` for ``bot.dispatcher.Dispatcher``: writes ``<name>.<kbps>k.mp3`` beside it."""

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
