"""``riffbot audio-to-image`` and ``riffbot image-to-audio``: files in, files out, clear errors."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from generation import audio as A
from generation import codec
from generation.synth import music_clip
from riffbot.cli import main

RATE = 44_100


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    monkeypatch.setenv("RIFFBOT_MAX_AUDIO_SECONDS", "8")


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return A.write_wav(music_clip(0, seconds=2.0), RATE, tmp_path / "in.wav")


def test_audio_to_image_to_mp3(
    tmp_path: Path, wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "out.png"
    picture = tmp_path / "picture.png"
    assert main(["audio-to-image", str(wav), str(png), "--picture", str(picture)]) == 0
    image = codec.open_image(png)
    assert image.size == (1 + 2 * RATE // 441, 512)
    assert image.getexif()[codec.EXIF_SAMPLE_RATE] == RATE
    assert picture.stat().st_size > 0

    mp3 = tmp_path / "out.mp3"
    assert main(["image-to-audio", str(png), str(mp3)]) == 0
    info = subprocess.run(
        [A.ffmpeg_exe(), "-hide_banner", "-i", str(mp3)], capture_output=True, text=True
    ).stderr
    assert re.search(r"Audio: mp3.*44100 Hz", info), info
    back = A.load_audio(mp3, RATE, max_seconds=8)
    assert back.shape[1] / RATE == pytest.approx((image.width - 1) * 441 / RATE, abs=0.03)
    assert "out.mp3" in capsys.readouterr().out


def test_image_to_wav_as_a_loop_is_one_hop_longer(tmp_path: Path, wav: Path) -> None:
    png = tmp_path / "x.png"
    assert main(["audio-to-image", str(wav), str(png)]) == 0
    width = codec.open_image(png).width
    assert main(["image-to-audio", str(png), str(tmp_path / "loop.wav"), "--loop"]) == 0
    loop = A.load_audio(tmp_path / "loop.wav", RATE, max_seconds=8)
    assert loop.shape[1] == width * 441
    assert A.seam_ratio(loop, 0) < 1.0


def test_stereo_encoding(tmp_path: Path) -> None:
    stereo = np.concatenate([music_clip(0, seconds=1.0), music_clip(1, seconds=1.0)])
    src = A.write_wav(stereo, RATE, tmp_path / "stereo.wav")
    png = tmp_path / "s.png"
    assert main(["audio-to-image", str(src), str(png), "--stereo"]) == 0
    assert codec.params_from_image(codec.open_image(png)).stereo
    assert main(["image-to-audio", str(png), str(tmp_path / "s.wav")]) == 0
    assert A.load_audio(tmp_path / "s.wav", RATE, max_seconds=8, channels=2).shape[0] == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.wav", "No such audio file"),
        (lambda d: _write(d / "empty.wav", b""), "is empty"),
        (lambda d: _write(d / "junk.mp3", b"junk" * 100), "Could not read junk.mp3"),
        (
            lambda d: A.write_wav(np.zeros((1, RATE), np.float32), RATE, d / "quiet.wav"),
            "silent",
        ),
        (
            lambda d: A.write_wav(music_clip(1, seconds=9.0), RATE, d / "long.wav"),
            "longer than the 8 s limit",
        ),
    ],
)
def test_bad_audio_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    src = make(tmp_path)  # type: ignore[operator]
    assert main(["audio-to-image", str(src), str(tmp_path / "o.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_bad_images_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = _write(tmp_path / "junk.png", b"not an image")
    assert main(["image-to-audio", str(junk), str(tmp_path / "o.wav")]) == 2
    assert "Could not read junk.png" in capsys.readouterr().err

    from PIL import Image

    Image.new("RGB", (10, 64)).save(tmp_path / "small.png")
    assert main(["image-to-audio", str(tmp_path / "small.png"), str(tmp_path / "o.wav")]) == 2
    assert "64 px tall" in capsys.readouterr().err

    Image.new("RGB", (2000, 512)).save(tmp_path / "wide.png")
    assert main(["image-to-audio", str(tmp_path / "wide.png"), str(tmp_path / "o.wav")]) == 2
    assert "limit is 8 s" in capsys.readouterr().err

    assert main(["image-to-audio", str(tmp_path / "wide.png"), str(tmp_path / "o.ogg")]) == 2
    assert ".wav or .mp3" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
