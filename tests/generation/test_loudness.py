"""The finishing policy: BS.1770 loudness, true peak, a limiter with a budget, loops, radio."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation import loudness as L
from generation.audio import seam_ratio
from generation.synth import drum_pattern, music_clip

RATE = 44_100
POLICY = L.LoudnessPolicy()


def sine(freq: float, amplitude: float, seconds: float = 2.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)[None]


def test_loudness_of_a_reference_tone_is_its_level() -> None:
    """BS.1770's calibration: a 997 Hz tone on both channels at -20 dBFS reads -20 LUFS; mono
    is measured as dual mono (heard on both ears), so the mono tone reads the same."""
    mono = sine(997, 0.1)
    assert L.integrated_loudness(mono, RATE) == pytest.approx(-20.0, abs=0.1)
    assert L.integrated_loudness(np.repeat(mono, 2, axis=0), RATE) == pytest.approx(
        L.integrated_loudness(mono, RATE), abs=1e-6
    )
    assert L.integrated_loudness(np.zeros((1, RATE), np.float32), RATE) == -math.inf


def test_true_peak_sees_the_peaks_between_samples() -> None:
    """A tone at a quarter of the rate, sampled 45 degrees off its crests: every sample is at
    0.707 but the waveform a DAC rebuilds reaches 1.0 (BS.1770 Annex 2's example)."""
    x = sine(RATE / 4, 1.0, seconds=0.5, phase=np.pi / 4)
    assert 20 * math.log10(float(np.abs(x).max())) == pytest.approx(-3.01, abs=0.05)
    assert L.true_peak_dbtp(x) == pytest.approx(0.0, abs=0.3)


@pytest.mark.parametrize("level", [0.05, 0.1, 1.0])
def test_loud_and_quiet_music_reach_the_target_under_the_ceiling(level: float) -> None:
    x = level * music_clip(0, seconds=5.11) / 0.5
    y, report = L.finish(x, RATE)
    assert L.true_peak_dbtp(y) <= POLICY.ceiling_dbtp + 1e-6
    assert L.integrated_loudness(y, RATE) == pytest.approx(POLICY.target_lufs, abs=0.5)
    assert report.reduction_db <= POLICY.max_reduction_db + 1e-9
    assert not report.budget_bound
    # no flat tops: the limiter rides the gain, it never clips
    ceiling = 10 ** (POLICY.ceiling_dbtp / 20)
    assert np.count_nonzero(np.abs(y) > 0.999 * ceiling) <= 10


def test_percussive_material_stays_quieter_rather_than_squashed() -> None:
    """Sharp hi-hats over a quiet bed, peaking at 0.9 and reading -23 LUFS: reaching -14
    would take 10 dB of limiting; the limiter stays within its budget (its deepest cut and
    what it takes overall) and the clip stays quieter."""
    bed = sine(110, 0.01, seconds=4.0)
    hits = np.atleast_2d(drum_pattern("H...H...H...H...", 4.0))[:, : bed.shape[1]]
    x = (bed + 0.9 * hits / np.abs(hits).max()).astype(np.float32)
    y, report = L.finish(x, RATE)
    assert report.reduction_db <= POLICY.max_reduction_db + 1e-9
    sound = np.abs(x[0]) > 1e-4
    limiter = np.where(sound, y[0] / np.where(sound, x[0], 1.0), 1.0) / 10 ** (report.gain_db / 20)
    taken = np.linalg.norm(x[0] * (1 - limiter)) / np.linalg.norm(x[0])
    assert 20 * math.log10(taken) == pytest.approx(POLICY.max_taken_db, abs=0.3)  # all of it
    assert L.true_peak_dbtp(y) <= POLICY.ceiling_dbtp + 1e-6
    assert report.output_lufs < POLICY.target_lufs - 1.0
    assert report.budget_bound
    # the gain is one smooth curve: a step would show as a jump in y / x
    mask = np.abs(x[0]) > 1e-3
    gain = np.where(mask, y[0] / np.where(mask, x[0], 1.0), np.nan)
    assert np.nanmin(gain) > 0
    assert np.nanmax(np.abs(np.diff(gain))) < 0.02  # 3 dB over the 2 ms look-ahead, no steps


def test_limiter_glides_down_before_a_peak_and_releases_over_tens_of_ms() -> None:
    envelope = np.full(RATE, 0.5)
    envelope[RATE // 2] = 2.0  # one sample 6 dB over a 0 dB ceiling
    cut = L.limiter_reduction_db(
        envelope, RATE, 0.0, lookahead_ms=2.0, release_ms=60.0, budget_db=6.0
    )
    peak = RATE // 2
    assert cut[peak] >= 6.0 - 1e-9
    assert cut[peak - 200] == 0.0  # nothing before the look-ahead
    assert 0.0 < cut[peak - 40] < cut[peak]  # gliding down, not stepping
    release = int(np.argmax(cut[peak:] <= 1e-9))
    assert 0.04 * RATE < release < 0.1 * RATE  # tens of ms back to unity
    assert np.abs(np.diff(cut)).max() < 0.2


def test_a_finished_loop_has_no_step_at_the_loop_point() -> None:
    """A peak just before the wrap: a limiter that does not wrap would duck the end but not
    the start, a step in level right at the loop point."""
    t = np.arange(RATE // 2) / RATE  # 0.5 s: a whole number of 440 Hz periods
    loop = (0.3 * np.cos(2 * np.pi * 440 * t))[None].astype(np.float32)
    loop[0, -60] = 1.0
    policy = L.LoudnessPolicy(target_lufs=-6.0)
    y, report = L.finish(loop, RATE, policy, periodic=True)
    assert report.reduction_db > 1.0
    assert seam_ratio(y, at=0) <= 1.0
    assert L.true_peak_dbtp(y, periodic=True) <= policy.ceiling_dbtp + 1e-6
    # played twice in a row, the loop measures the same as once
    twice = np.tile(y, (1, 2))
    assert L.integrated_loudness(twice, RATE) == pytest.approx(
        L.integrated_loudness(y, RATE, periodic=True), abs=0.05
    )


def test_silence_stays_silent() -> None:
    zeros = np.zeros((2, 1000), dtype=np.float32)
    y, report = L.finish(zeros, RATE)
    assert np.array_equal(y, zeros)
    assert report.gain_db == 0.0


@settings(max_examples=20, deadline=None)
@given(
    level=st.floats(0.01, 4.0),
    length=st.integers(10, 5000),
    channels=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_finished_audio_never_exceeds_the_true_peak_ceiling(
    level: float, length: int, channels: int, seed: int
) -> None:
    x = np.random.default_rng(seed).standard_normal((channels, length)).astype(np.float32) * level
    y, report = L.finish(x, RATE)
    assert y.shape == x.shape
    assert L.true_peak_dbtp(y) <= POLICY.ceiling_dbtp + 1e-6
    assert report.reduction_db <= POLICY.max_reduction_db + 1e-9


def test_radio_gain_moves_slowly_across_clips() -> None:
    """Clips alternating 12 dB apart: per-clip normalisation would jump 12 dB at each join;
    the radio's gain moves at most max_step_db per clip, and settles on steady material."""
    leveller = L.RadioLeveller(max_step_db=1.5)
    loud = np.repeat(music_clip(1, seconds=2.0), 2, axis=0)
    gains = []
    for index in range(6):
        clip = loud if index % 2 == 0 else loud * 0.25
        _, report = leveller.level(clip, RATE)
        gains.append(report.gain_db)
        assert report.true_peak_dbtp <= POLICY.ceiling_dbtp + 1e-6
    assert np.abs(np.diff(gains)).max() <= 1.5 + 1e-9
    steady = L.RadioLeveller()
    for _ in range(8):
        out, report = steady.level(loud * 0.25, RATE)
    assert L.integrated_loudness(out, RATE) == pytest.approx(POLICY.target_lufs, abs=0.5)
