"""48 kHz stereo PCM -> a live Ogg Opus stream, through the ffmpeg that imageio-ffmpeg ships.

One encoder per browser: each joins at its own frame, and Opus at 48 kHz carries the very
samples the voice channel hears (no resampling). Ogg pages are flushed every 100 ms so a
browser starts playing within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

OGG_OPUS = "audio/ogg; codecs=opus"


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def encoder_args(bitrate_kbps: int) -> list[str]:
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "s16le",
        "-ar",
        "48000",
        "-ac",
        "2",
        "-i",
        "pipe:0",
        "-c:a",
        "libopus",
        "-b:a",
        f"{bitrate_kbps}k",
        "-application",
        "audio",
        "-frame_duration",
        "20",
        "-page_duration",
        "100000",
        "-flush_packets",
        "1",
        "-f",
        "ogg",
        "pipe:1",
    ]


async def ogg_opus(
    pcm_chunks: AsyncIterator[bytes], *, bitrate_kbps: int = 128
) -> AsyncIterator[bytes]:
    """Encode ``pcm_chunks`` as they come; stops (and reaps ffmpeg) when either side ends."""
    proc = await asyncio.create_subprocess_exec(
        *encoder_args(bitrate_kbps),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin = proc.stdin

    async def feed() -> None:
        try:
            async for chunk in pcm_chunks:
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with contextlib.suppress(Exception):
                stdin.close()

    feeder = asyncio.create_task(feed(), name="web-ogg-feed")
    try:
        while True:
            data = await proc.stdout.read(4096)
            if not data:
                break
            yield data
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
