"""Media helpers with the real libraries: upload duration (PyAV), re-encoding (ffmpeg)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from bot.media import FfmpegShrinker, bitrate_for, probe_duration, read_duration
from generation.types import InvalidRequest


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


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
    )


async def test_duration_is_read_from_the_packets(mp3: Path, tmp_path: Path) -> None:
    seconds = await probe_duration(mp3)
    assert seconds == pytest.approx(5.0, abs=0.1)
    broken = tmp_path / "broken.wav"
    await asyncio.to_thread(broken.write_bytes, b"RIFFnope")
    with pytest.raises(InvalidRequest, match="could not be read as audio"):
        await probe_duration(broken)


def test_variable_bitrate_mp3_without_a_header_gets_its_real_length(tmp_path: Path) -> None:
    """4 s of silence then 4 s of noise, VBR, no Xing header: ffmpeg's banner estimates the
    length from the first (tiny) frames' bitrate and says about 20 s."""
    path = tmp_path / "vbr.mp3"
    ffmpeg(
        *("-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=4"),
        *("-f", "lavfi", "-i", "anoisesrc=d=4:a=0.5"),
        *("-filter_complex", "[0][1]concat=n=2:v=0:a=1"),
        *("-c:a", "libmp3lame", "-q:a", "0", "-write_xing", "0", str(path)),
    )
    banner = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    assert "Duration: 00:00:0" not in banner  # the header estimate is well past 10 s
    assert read_duration(path) == pytest.approx(8.0, abs=0.1)


def test_video_with_several_audio_streams_measures_the_first_audio(tmp_path: Path) -> None:
    """A video track of 2 s, then audio of 3 s and a second audio of 6 s: the first audio
    stream is the one decoded (load_audio maps 0:a:0), so its length is the answer."""
    path = tmp_path / "several.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=2"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=3"),
        *("-f", "lavfi", "-i", "sine=frequency=220:duration=6"),
        *("-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "mpeg4", "-c:a", "flac"),
        str(path),
    )
    assert read_duration(path) == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("suffix", ["ogg", "flac", "m4a", "wav"])
def test_other_containers_are_measured(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip.{suffix}"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2.5", str(path))
    assert read_duration(path) == pytest.approx(2.5, abs=0.05)


def test_files_without_sound_are_refused_with_a_reason(tmp_path: Path) -> None:
    video = tmp_path / "silent-film.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=1", "-c:v", "mpeg4", str(video)
    )
    with pytest.raises(InvalidRequest, match="no audio stream"):
        read_duration(video)
    text = tmp_path / "notes.mp3"
    text.write_text("just some words, not a sound file\n" * 20)
    with pytest.raises(InvalidRequest, match="could not be read as audio"):
        read_duration(text)
