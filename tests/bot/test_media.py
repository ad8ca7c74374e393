"""ffmpeg helpers with the real ffmpeg: upload duration, and re-encoding to fit a limit."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from bot.media import FfmpegShrinker, bitrate_for, parse_duration, probe_duration


def test_bitrate_is_the_highest_that_fits() -> None:
    assert bitrate_for(10 * 2**20, 5.0) == 96
    assert bitrate_for(45_000, 5.0) == 64  # 96k needs ~63 kB, 64k ~42 kB
    assert bitrate_for(10_000, 5.0) is None


@pytest.fixture
def mp3(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp3"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=5",
            "-b:a",
            "192k",
            str(path),
        ],
        check=True,
    )
    return path


async def test_shrinking_writes_a_smaller_mp3_that_fits(mp3: Path) -> None:
    size = await asyncio.to_thread(lambda: mp3.stat().st_size)
    limit = size // 2
    smaller = await FfmpegShrinker()(mp3, limit, 5.0)
    assert smaller is not None
    assert smaller != mp3
    new_size = await asyncio.to_thread(lambda: smaller.stat().st_size)
    assert 0 < new_size <= limit
    head = await asyncio.to_thread(lambda: smaller.read_bytes()[:3])
    assert head in (b"ID3", b"\xff\xfb", b"\xff\xf3")


async def test_unreadable_input_gives_up_cleanly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp3"
    await asyncio.to_thread(broken.write_bytes, b"not audio")
    assert await FfmpegShrinker()(broken, 10 * 2**20, 5.0) is None


async def test_duration_is_read_from_the_header(mp3: Path, tmp_path: Path) -> None:
    seconds = await probe_duration(mp3)
    assert seconds == pytest.approx(5.0, abs=0.1)
    broken = tmp_path / "broken.wav"
    await asyncio.to_thread(broken.write_bytes, b"RIFFnope")
    assert await probe_duration(broken) is None
    assert parse_duration("  Duration: 01:02:03.50, start: 0") == 3723.5
    assert parse_duration("  Duration: N/A, bitrate: N/A") is None


async def test_an_upload_is_written_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from bot.commands.common import save_attachment

    class Upload:
        async def read(self) -> bytes:
            return b"RIFF" + bytes(100)

    writers: list[threading.Thread] = []
    real_write = Path.write_bytes

    def recording_write(self: Path, data: bytes) -> int:
        writers.append(threading.current_thread())
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", recording_write)
    target = tmp_path / "uploads" / "1.wav"
    await save_attachment(Upload(), target)  # type: ignore[arg-type]
    assert target.read_bytes() == b"RIFF" + bytes(100)
    assert writers
    assert threading.main_thread() not in writers
