"""``riffbot radio`` renders the same stream the voice channel hears, to WAV or MP3."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from generation.models import LoadedModel
from generation.pipeline import generate
from generation.pipeline_cache import PipelineCache
from generation.radio import RadioStation, render_radio
from generation.radio_plan import DEFAULT_PROMPT, RadioSettings, initial_state, queue_prompt
from generation.radio_sim import SyntheticClip, SyntheticGenerator, VirtualTimeLoop, synth_clip
from generation.radio_stream import pcm16_to_float
from generation.types import GenerationError, GenerationRequest, Mode
from riffbot.cli import main


def test_render_is_byte_identical_to_the_live_stream() -> None:
    state = queue_prompt(initial_state("a", 4), "b")
    seconds = 30.0
    rendered, _ = render_radio(
        lambda r: SyntheticClip(synth_clip(r), 44_100), state, seconds, crossfade_s=0.05
    )

    async def live() -> bytes:
        station = RadioStation(SyntheticGenerator(rtf=2.0), state, crossfade_s=0.05)
        await station.start()
        await station.wait_ready()
        frames = []
        for _ in range(round(seconds * 50)):
            frames.append(station.read())
            await asyncio.sleep(0.02)
        await station.stop()
        assert station.stream.stats.underruns == 0
        return b"".join(frames)

    loop = VirtualTimeLoop()
    try:
        heard = loop.run_until_complete(live())
    finally:
        loop.close()
    assert rendered == heard


def test_cli_writes_wav_and_mp3_with_the_requested_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "radio.wav"
    args = ["radio", "--prompt", "jazz", "--prompt", "metal", "--minutes", "0.25"]
    assert main([*args, "--out", str(wav), "--model", "synthetic", "--seed", "3"]) == 0
    err = capsys.readouterr().err
    # one bar over the render, counted in clips (15 s: 3 clips), not a line a clip
    assert "radio: 100%" in err
    assert "3/3" in err
    assert "clip 1:" not in err
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48_000, 2, 2)
        assert w.getnframes() == 15 * 48_000
    mp3 = tmp_path / "radio.mp3"
    assert main([*args, "--out", str(mp3), "--model", "synthetic", "--seed", "3"]) == 0
    data = mp3.read_bytes()
    assert data[:3] == b"ID3" or data[0] == 0xFF
    assert len(data) > 100_000  # 15 s at 192 kbit/s is about 360 kB


def test_cli_refuses_unknown_formats_and_bad_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["radio", "--prompt", "x", "--out", str(tmp_path / "a.ogg")]) == 2
    assert ".wav or .mp3" in capsys.readouterr().err
    out = str(tmp_path / "a.wav")
    assert main(["radio", "--prompt", " ", "--out", out, "--model", "synthetic"]) == 1
    assert "prompt is empty" in capsys.readouterr().err


def test_render_needs_a_length() -> None:
    with pytest.raises(GenerationError, match="positive length"):
        render_radio(lambda r: SyntheticClip(synth_clip(r), 44_100), initial_state("x", 0), 0)


def test_tiny_model_radio_clip_plays_through_the_stream(tiny_model_session: LoadedModel) -> None:
    """One real clip: the pipeline takes the radio's interpolation request, the stream plays it."""
    made: list[GenerationRequest] = []
    cache = PipelineCache()

    def run(request: GenerationRequest) -> object:
        made.append(request)
        return generate(tiny_model_session, request, cache=cache)

    state = initial_state("lofi beat", 7, RadioSettings(steps=2))
    pcm, after = render_radio(run, state, 3.0)  # type: ignore[arg-type]
    assert len(made) == 1
    assert made[0].mode is Mode.RADIO
    assert made[0].end is not None
    assert made[0].end.seed == 8
    assert made[0].alpha == 0.25
    assert len(pcm) == 3 * 48_000 * 4
    audio = pcm16_to_float(pcm)
    assert np.all(np.isfinite(audio))
    assert float(np.sqrt(np.mean(audio[4800:] ** 2))) > 1e-3  # past the fade-in, not silent
    assert after.alpha == 0.25


def test_cli_plays_the_default_prompt_when_none_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``riffbot radio --out r.wav`` is what a new user types first; it must just work."""
    wav = tmp_path / "r.wav"
    args = ["radio", "--minutes", "0.1", "--out", str(wav), "--model", "synthetic"]
    assert main([*args, "--seed", "8"]) == 0
    assert f"{DEFAULT_PROMPT} (seed 8 -> 9, 50%)" in capsys.readouterr().err  # the bar's note
    with wave.open(str(wav)) as w:
        assert w.getnframes() == 6 * 48_000


def test_radio_plays_as_loud_as_the_clips_and_under_the_ceiling() -> None:
    """The radio used to skip finishing and play ~3 LU louder than clips; now every clip is
    levelled by the same policy, and the crossfades keep the true peak under -1 dBTP."""
    from generation.loudness import LoudnessPolicy, finish, integrated_loudness, true_peak_dbtp

    clips: list[float] = []

    def made(_index: int, request: GenerationRequest) -> None:
        finished, _ = finish(synth_clip(request), 44_100)
        clips.append(integrated_loudness(finished, 44_100))

    pcm, _ = render_radio(
        lambda r: SyntheticClip(synth_clip(r), 44_100),
        initial_state("jazz", 11),
        20.0,
        on_clip=made,
    )
    radio = pcm16_to_float(pcm).T
    assert abs(integrated_loudness(radio, 48_000) - float(np.mean(clips))) <= 1.0
    assert true_peak_dbtp(radio) <= LoudnessPolicy().ceiling_dbtp + 0.1  # 16-bit, resampler
