"""Audio finishing: no clipping, click-free joins, seams, files in and out through ffmpeg."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from generation import audio as A
from generation import synth
from generation.synth import music_clip
from generation.types import InvalidRequest

RATE = 44_100


def spiky(seconds: float = 1.0) -> np.ndarray:
    """Quiet music with sharp transients: a crest factor Riffusion's gain step would clip."""
    base = 0.2 * music_clip(0, seconds=seconds)
    base[0, 10_000::15_000] = 0.9  # three single-sample spikes, 30 dB above the RMS
    return base


def ffprobe_like(path: Path) -> str:
    """ffmpeg's own description of a file (imageio-ffmpeg ships no ffprobe)."""
    proc = subprocess.run(
        [A.ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stderr


# --- fades, joins and seams ---------------------------------------------------------------


def test_equal_power_fades_keep_power_constant() -> None:
    fade_out, fade_in = A.equal_power_fades(1000)
    assert np.allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-6)
    assert fade_out[0] > 0.99
    assert fade_in[-1] > 0.99
    assert np.all(np.diff(fade_in) > 0)


def tonal(seconds: float) -> np.ndarray:
    """Chords without drums: smooth material on which a cut is plainly audible."""
    x = synth.chord_track(seconds) + synth.bass_line([45, 41, 48, 43], seconds)
    out: np.ndarray = (0.5 * x / np.abs(x).max()).astype(np.float32)[None]
    return out


def test_joining_clips_hides_the_cut() -> None:
    clip = tonal(2.0)
    # cut from near a positive peak straight to near a negative one: a click
    i = 30_000 + int(np.argmax(clip[0, 30_000:40_000]))
    j = 60_000 + int(np.argmin(clip[0, 60_000:70_000]))
    a, b = clip[:, : i + 1], clip[:, j:]
    hard = np.concatenate([a, b], axis=1)
    assert A.seam_ratio(hard, a.shape[1]) > 2.0
    fade = 441
    joined = A.crossfade_join([a, b], fade)
    assert joined.shape[1] == a.shape[1] + b.shape[1] - fade
    # a seam can only be within the fade; no sample there is a click
    worst = max(A.seam_ratio(joined, i) for i in range(a.shape[1] - fade, a.shape[1] + 1))
    assert worst < 1.0


def test_join_of_many_clips_has_the_expected_length() -> None:
    clips = [music_clip(v, seconds=0.5) for v in range(4)]
    joined = A.crossfade_join(clips, 100)
    assert joined.shape == (1, sum(c.shape[1] for c in clips) - 3 * 100)
    with pytest.raises(ValueError, match="nothing"):
        A.crossfade_join([], 10)


def test_loop_crossfade_removes_the_wrap_click() -> None:
    whole = tonal(1.5)
    start = 5_000 + int(np.argmax(whole[0, 5_000:6_000]))
    end = 60_000 + int(np.argmin(whole[0, 60_000:61_000]))
    clip = whole[:, start : end + 1]
    assert A.seam_ratio(clip, 0) > 2.0
    looped = A.loop_crossfade(clip, 441)
    assert looped.shape[1] == clip.shape[1] - 441
    assert A.seam_ratio(looped, 0) < 1.0


def test_seam_ratio_flags_a_step_in_a_smooth_signal() -> None:
    t = np.arange(20_000) / RATE
    smooth = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert A.seam_ratio(smooth, 10_000) < 1.0
    stepped = smooth.copy()
    stepped[10_000:] += 0.2
    assert A.seam_ratio(stepped, 10_000) > 5.0


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
def test_mp3_reads_back_at_the_right_rate_and_length(tmp_path: Path, channels: int) -> None:
    audio = np.repeat(music_clip(0), channels, axis=0)
    path = A.export_mp3(audio, RATE, tmp_path / "clip.mp3", bitrate="96k")
    info = ffprobe_like(path)
    assert re.search(r"Audio: mp3.*44100 Hz", info), info
    assert ("stereo" if channels == 2 else "mono") in info
    decoded = A.load_audio(path, RATE, max_seconds=10, channels=channels)
    assert decoded.shape[0] == channels
    assert decoded.shape[1] / RATE == pytest.approx(5.11, abs=0.03)


def test_wav_round_trip_is_exact_to_16_bits(tmp_path: Path) -> None:
    audio = music_clip(1, seconds=0.5)
    path = A.write_wav(audio, RATE, tmp_path / "x.wav")
    back = A.load_audio(path, RATE, max_seconds=1, channels=1)
    assert back.shape == audio.shape
    assert np.abs(back - audio).max() < 2 / 32767


def test_load_audio_resamples_and_mixes_down(tmp_path: Path) -> None:
    stereo = np.repeat(music_clip(1, seconds=1.0), 2, axis=0)
    path = A.write_wav(A.resample(stereo, RATE, 22_050), 22_050, tmp_path / "low.wav")
    back = A.load_audio(path, RATE, max_seconds=5, channels=1)
    assert back.shape[0] == 1
    assert back.shape[1] == pytest.approx(RATE, abs=50)


def test_stereo_is_mixed_down_by_averaging_without_clipping(tmp_path: Path) -> None:
    """ffmpeg's -ac 1 sums 0.7071 * (L + R): L = R = 0.9 sine came out at 1.27, clipped."""
    t = np.arange(RATE) / RATE
    tone = (0.9 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = A.write_wav(np.stack([tone, tone]), RATE, tmp_path / "wide.wav")
    mono = A.load_audio(path, RATE, max_seconds=2, channels=1)
    assert float(np.abs(mono).max()) == pytest.approx(0.9, abs=1e-3)
    assert np.abs(mono[0] - tone).max() < 2 / 32767


def test_stereo_file_and_its_average_give_the_same_image(tmp_path: Path) -> None:
    from generation.codec import image_from_audio
    from generation.params import SpectrogramParams

    left = music_clip(0, seconds=2.0)[0]
    right = 0.8 * left + 0.2 * music_clip(3, seconds=2.0)[0]  # mostly the same: correlated
    stereo = (0.95 * np.stack([left, right]) / np.abs(np.stack([left, right])).max()).astype(
        np.float32
    )
    assert float(np.abs(stereo.sum(axis=0)).max()) * 0.7071 > 1.0  # ffmpeg's -ac 1 would clip
    average = (0.5 * (stereo[0] + stereo[1]))[None]
    # float WAVs: 16-bit rounding noise would differ between the two files in silent bins
    stereo_path, mono_path = tmp_path / "stereo.wav", tmp_path / "mono.wav"
    wavfile.write(stereo_path, RATE, stereo.T)
    wavfile.write(mono_path, RATE, average.T)
    params = SpectrogramParams()
    images = [
        np.asarray(image_from_audio(A.load_audio(p, RATE, max_seconds=3), params), np.int16)
        for p in (stereo_path, mono_path)
    ]
    assert np.abs(images[0] - images[1]).max() <= 1


def test_mono_file_read_as_stereo_is_duplicated_at_full_level(tmp_path: Path) -> None:
    tone = music_clip(2, seconds=1.0)
    path = A.write_wav(tone, RATE, tmp_path / "mono.wav")
    both = A.load_audio(path, RATE, max_seconds=2, channels=2)
    assert both.shape == (2, tone.shape[1])
    assert np.abs(both - tone).max() < 2 / 32767


def test_bad_audio_files_give_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"\x00\x01 definitely not audio " * 50)
    with pytest.raises(InvalidRequest, match=r"Could not read garbage\.mp3"):
        A.load_audio(garbage, RATE, max_seconds=10)

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InvalidRequest, match="empty"):
        A.load_audio(empty, RATE, max_seconds=10)

    with pytest.raises(InvalidRequest, match="No such"):
        A.load_audio(tmp_path / "missing.wav", RATE, max_seconds=10)

    silent = A.write_wav(np.zeros((1, RATE), np.float32), RATE, tmp_path / "silent.wav")
    with pytest.raises(InvalidRequest, match="silent"):
        A.load_audio(silent, RATE, max_seconds=10)

    long = A.write_wav(music_clip(0, seconds=3.0), RATE, tmp_path / "long.wav")
    with pytest.raises(InvalidRequest, match="longer than the 2 s limit"):
        A.load_audio(long, RATE, max_seconds=2)

    no_samples = A.write_wav(np.zeros((1, 0), np.float32), RATE, tmp_path / "none.wav")
    with pytest.raises(InvalidRequest, match="no audio"):
        A.load_audio(no_samples, RATE, max_seconds=10)


def test_fit_length_loops_short_audio_and_crops_long_audio() -> None:
    x = np.arange(5, dtype=np.float32)[None]
    assert A.fit_length(x, 12).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]]
    assert A.fit_length(x, 3).tolist() == [[0, 1, 2]]
