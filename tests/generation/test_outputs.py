"""What lands on disk for a finished clip: the MP3 gets one loudness target, loops stay loops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.audio import load_audio
from generation.loudness import integrated_loudness, true_peak_dbtp
from generation.outputs import write_outputs
from generation.results import GenerationResult
from generation.types import Endpoint, GenerationRequest, Mode

RATE = 44_100


def result(audio: np.ndarray, mode: Mode = Mode.RIFF) -> GenerationResult:
    image = Image.new("RGB", (64, 512), (255, 255, 255))
    return GenerationResult(
        request=GenerationRequest(mode=mode, start=Endpoint("beat", 1)),
        raw_image=image,
        audio=audio.astype(np.float32),
        sample_rate=RATE,
        picture=image,
        timings={},
        model_id="test",
        latent=np.zeros((4, 64, 8), dtype=np.float32),
    )


def test_mp3_is_loudness_normalised_without_clipping(tmp_path: Path) -> None:
    """Clips come out of the codec peak-normalised, so a pure tone is far louder than a
    spiky beat; the tone reaches the loudness target, the clicks (whose peaks the limiter
    budget cannot take off) stay quieter, and both decode under the true-peak ceiling."""
    t = np.arange(2 * RATE) / RATE
    tone = 0.99 * np.sin(2 * np.pi * 440 * t)[None]  # RMS -3 dBFS
    clicks = np.zeros_like(tone)
    clicks[:, :: RATE // 8] = 0.99  # RMS far below -14 dBFS, peaks at the top
    clicks += 0.05 * np.sin(2 * np.pi * 220 * t)[None]
    for name, audio in (("tone", tone), ("clicks", clicks)):
        files = write_outputs(result(audio), tmp_path, name)
        decoded = load_audio(files.mp3, RATE, max_seconds=5)
        level = integrated_loudness(decoded, RATE)
        if name == "tone":
            assert level == pytest.approx(-14.0, abs=0.5)
        else:
            assert level < -15.0
        assert true_peak_dbtp(decoded) < -0.5, name  # -1 dBTP plus MP3's own overshoot


def test_staged_results_are_there_whole_or_not_at_all(tmp_path: Path) -> None:
    from generation.outputs import staged

    mp3, record = tmp_path / "c.mp3", tmp_path / "c.json"

    def half_written() -> None:
        with staged(mp3, record) as (a, _):
            a.write_bytes(b"ID3")
            raise OSError("cannot write the record")

    with pytest.raises(OSError, match="cannot write the record"):
        half_written()
    assert list(tmp_path.iterdir()) == []
    with staged(mp3, record) as (a, b):
        a.write_bytes(b"ID3")
        b.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.mp3"]
    assert mp3.read_bytes() == b"ID3"
