"""Music made from numpy alone, for seed images, tests and the codec benchmark.

Tests and benchmarks need realistic material (harmonic chords, transient drums, a bass line)
without shipping audio files or depending on a model; one module keeps them all on the same
material, so a quality bound in a test means the same thing as a figure in the benchmark.
Everything here is deterministic: the same arguments give the same samples, bit for bit.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 44_100
BPM = 93.75
"""Riffusion's seed tempo: two bars of 4/4 last 5.12 s, i.e. exactly 512 image columns."""

_A4 = 440.0


def beat_seconds(bpm: float = BPM) -> float:
    return 60.0 / bpm


def midi_hz(note: float) -> float:
    return float(_A4 * 2.0 ** ((note - 69.0) / 12.0))


def _envelope(n: int, sample_rate: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sample_rate
    attack = np.minimum(1.0, t / max(attack_s, 1e-6))
    return attack * np.exp(-t / max(decay_s, 1e-6))


def kick(sample_rate: int = SAMPLE_RATE, length_s: float = 0.35) -> np.ndarray:
    """A sine whose pitch falls from 120 to 45 Hz: the low thump dominates a mel image."""
    n = int(length_s * sample_rate)
    t = np.arange(n) / sample_rate
    freq = 45.0 + 75.0 * np.exp(-t / 0.04)
    phase = 2.0 * np.pi * np.cumsum(freq) / sample_rate
    out: np.ndarray = np.sin(phase) * _envelope(n, sample_rate, 0.002, 0.12)
    return out


def snare(rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    n = int(0.25 * sample_rate)
    t = np.arange(n) / sample_rate
    body = np.sin(2.0 * np.pi * 190.0 * t) * _envelope(n, sample_rate, 0.001, 0.05)
    noise = rng.standard_normal(n) * _envelope(n, sample_rate, 0.001, 0.07)
    out: np.ndarray = 0.5 * body + 0.45 * noise
    return out


def hat(
    rng: np.random.Generator, sample_rate: int = SAMPLE_RATE, open_: bool = False
) -> np.ndarray:
    n = int((0.2 if open_ else 0.06) * sample_rate)
    noise = rng.standard_normal(n)
    bright = np.diff(noise, prepend=0.0)  # first difference: a cheap high-pass
    out: np.ndarray = 0.25 * bright * _envelope(n, sample_rate, 0.0005, 0.08 if open_ else 0.015)
    return out


def tone(
    freq: float,
    length_s: float,
    sample_rate: int = SAMPLE_RATE,
    *,
    harmonics: int = 12,
    max_hz: float = 10_000.0,
    decay_s: float = 0.6,
    vibrato_hz: float = 0.0,
) -> np.ndarray:
    """A sawtooth-like tone with 1/h harmonics, band-limited to ``max_hz``."""
    n = int(length_s * sample_rate)
    t = np.arange(n) / sample_rate
    inst = freq * (1.0 + 0.006 * np.sin(2.0 * np.pi * vibrato_hz * t)) if vibrato_hz else freq
    phase = 2.0 * np.pi * np.cumsum(np.broadcast_to(inst, t.shape)) / sample_rate
    out = np.zeros(n)
    for h in range(1, harmonics + 1):
        if h * freq >= max_hz:
            break
        out += np.sin(h * phase) / h
    shaped: np.ndarray = out * _envelope(n, sample_rate, 0.005, decay_s)
    return shaped


def _place(
    track: np.ndarray, sound: np.ndarray, at_s: float, sample_rate: int, gain: float
) -> None:
    start = round(at_s * sample_rate)
    if start >= track.shape[0]:
        return
    end = min(track.shape[0], start + sound.shape[0])
    track[start:end] += gain * sound[: end - start]


def drum_pattern(
    pattern: str,
    seconds: float,
    *,
    sample_rate: int = SAMPLE_RATE,
    bpm: float = BPM,
    seed: int = 0,
) -> np.ndarray:
    """Drums from a step string of sixteenth notes, one char per step, repeated to fill.

    ``K`` kick, ``S`` snare, ``H`` closed hat, ``O`` open hat, ``X`` kick + hat, ``.`` rest.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * sample_rate))
    step_s = beat_seconds(bpm) / 4.0
    k = kick(sample_rate)
    steps = int(np.ceil(seconds / step_s))
    for i in range(steps):
        ch = pattern[i % len(pattern)]
        at = i * step_s
        if ch in "KX":
            _place(out, k, at, sample_rate, 0.9)
        if ch == "S":
            _place(out, snare(rng, sample_rate), at, sample_rate, 0.6)
        if ch in "HX":
            _place(out, hat(rng, sample_rate), at, sample_rate, 0.5)
        if ch == "O":
            _place(out, hat(rng, sample_rate, open_=True), at, sample_rate, 0.5)
    return out


def bass_line(
    notes: list[int],
    seconds: float,
    *,
    sample_rate: int = SAMPLE_RATE,
    bpm: float = BPM,
    per_beat: int = 2,
) -> np.ndarray:
    """Notes (MIDI numbers, repeated to fill) played ``per_beat`` per beat."""
    out = np.zeros(round(seconds * sample_rate))
    step_s = beat_seconds(bpm) / per_beat
    steps = int(np.ceil(seconds / step_s))
    for i in range(steps):
        note = notes[i % len(notes)]
        sound = tone(midi_hz(note), step_s * 0.95, sample_rate, harmonics=6, decay_s=0.25)
        _place(out, sound, i * step_s, sample_rate, 0.5)
    return out


CHORDS = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))
"""Am, F, C, G: one chord per beat."""


def chord_track(
    seconds: float,
    *,
    sample_rate: int = SAMPLE_RATE,
    bpm: float = BPM,
    chords: tuple[tuple[int, ...], ...] = CHORDS,
    beats_per_chord: int = 1,
) -> np.ndarray:
    out = np.zeros(round(seconds * sample_rate))
    chord_s = beat_seconds(bpm) * beats_per_chord
    for i in range(int(np.ceil(seconds / chord_s))):
        for note in chords[i % len(chords)]:
            sound = tone(midi_hz(note), chord_s, sample_rate, decay_s=0.8, vibrato_hz=5.0)
            _place(out, sound, i * chord_s, sample_rate, 0.18)
    return out


def music_clip(
    variant: int = 0,
    seconds: float = 5.11,
    *,
    sample_rate: int = SAMPLE_RATE,
    bpm: float = BPM,
) -> np.ndarray:
    """Chords + bass + drums, mono float32 of shape (1, samples), peak 0.5.

    ``variant`` changes the key, the drum pattern and the mix, so a benchmark can run over
    several different clips that are all still "music".
    """
    shift = (0, 3, -2, 5, 7)[variant % 5]
    patterns = ("X.H.S.H.X.HXS.H.", "K.H.S.HKK.H.S.HO", "X.HHS.H.X.H.SHHH", "K..HS..HK.K.S..O")
    chords = tuple(tuple(n + shift for n in c) for c in CHORDS)
    mix = (
        chord_track(seconds, sample_rate=sample_rate, bpm=bpm, chords=chords)
        + bass_line([c[0] - 12 for c in chords], seconds, sample_rate=sample_rate, bpm=bpm)
        + drum_pattern(
            patterns[variant % len(patterns)],
            seconds,
            sample_rate=sample_rate,
            bpm=bpm,
            seed=variant,
        )
    )
    peak = float(np.max(np.abs(mix)))
    clip: np.ndarray = (0.5 * mix / peak).astype(np.float32)[None, :]
    return clip
