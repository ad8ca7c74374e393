"""Fidelity benchmark: what finishing (loudness, true peak, limiter) does to what was generated.

Items: the four shipped seed images, and three images synthesized here (a dense full-band
mix, a drum pattern with sharp transients, a quiet ambient pad). Each image becomes audio
through the codec (peak-normalised, as the pipeline hands it over), then is finished by
``generation.loudness.finish`` at the default policy (-14 LUFS, -1 dBTP, 3 dB limiter budget).
For the baseline, the previous policy (RMS to -14 dBFS, then a 5 ms symmetric limiter to
-1 dBFS sample peak) runs on the same audio in the same run.

Per item: spectral convergence against the image without finishing, with ours and with the
previous policy (SC = ||Mt - g Mel(|STFT(y)|)|| / ||Mt||, optimal scalar g, so gain alone
changes nothing; lower is better), integrated loudness (BS.1770, mono as dual mono), true
peak (4x oversampled), and the limiter's largest gain reduction.

Then 30 s of radio rendered with the synthetic generator (``render_radio``: the same walk,
joins and resampler as the voice channel), measured against its own clips finished as clips.

Last line: ``fidelity: sc added X max, loudness error Y LU max, true peak Z dBTP max, radio vs
clips W LU`` with X the largest SC increase finishing causes, Y the largest distance from the
target over the clips whose limiter budget allows reaching it, Z the highest true peak (clips
and radio), W |radio - clips| in LU. Usage: ``python benchmarks/fidelity.py [--radio-s 30]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

RATE = 44_100


def spectral_convergence(target: np.ndarray, audio: np.ndarray) -> float:
    from generation.codec import mel_from_audio
    from generation.params import SpectrogramParams

    mel = mel_from_audio(audio, SpectrogramParams())[..., : target.shape[-1]]
    gain = float((target * mel).sum() / (mel * mel).sum())
    return float(np.linalg.norm(target - gain * mel) / np.linalg.norm(target))


def previous_policy(audio: np.ndarray) -> tuple[np.ndarray, float]:
    """The finishing this replaces: RMS gain to -14 dBFS, then a look-ahead limiter with a
    5 ms symmetric window (running minimum, then running mean) to a -1 dBFS sample peak."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    gained = audio * (10 ** (-14 / 20) / rms)
    ceiling = 10 ** (-1 / 20)
    level = np.max(np.abs(gained), axis=0)
    need = np.minimum(1.0, ceiling / np.maximum(level, 1e-12))
    span = 2 * int(0.005 * RATE) + 1
    gain = uniform_filter1d(minimum_filter1d(need, span, mode="nearest"), span, mode="nearest")
    out = gained * gain[None, :]
    peak = float(np.max(np.abs(out)))
    result: np.ndarray = (out * min(1.0, ceiling / peak)).astype(np.float32)
    return result, -20 * math.log10(float(gain.min()) * min(1.0, ceiling / peak))


def synthesized_items() -> dict[str, np.ndarray]:
    """Audio for the three images made here: dense, percussive, quiet and soft."""
    from generation import synth

    seconds = 5.11
    n = round(seconds * RATE)
    rng = np.random.default_rng(7)
    # dense: three songs' worth of chords, bass and drums at once, plus pink-ish noise
    dense = sum(synth.music_clip(v, seconds)[0] for v in range(3))
    noise = np.cumsum(rng.standard_normal(n)) * 0.002
    noise -= np.convolve(noise, np.ones(441) / 441, mode="same")
    dense = dense + noise + 0.3 * rng.standard_normal(n) * 0.05
    # percussive: kicks, snares and hats alone, sharp attacks, nothing sustained
    drums = synth.drum_pattern("XHSHXHSHXHSHXSHH", seconds, seed=3)
    # ambient pad: slow swelling chords, no drums, low level and no transients
    t = np.arange(n) / RATE
    pad = synth.chord_track(seconds, beats_per_chord=4) * (0.5 - 0.4 * np.cos(2 * np.pi * t / 5))
    pad = 0.05 * pad / np.max(np.abs(pad))
    items = {"dense mix": dense, "drum pattern": drums, "ambient pad": pad}
    return {name: np.asarray(a, dtype=np.float32)[None, :] for name, a in items.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radio-s", type=float, default=30.0, help="seconds of radio")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from generation import codec
    from generation.loudness import LoudnessPolicy, finish, integrated_loudness, true_peak_dbtp
    from generation.params import SpectrogramParams
    from generation.radio import render_radio
    from generation.radio_plan import initial_state, queue_prompt
    from generation.radio_sim import SyntheticClip, synth_clip
    from generation.radio_stream import pcm16_to_float
    from generation.seeds import SEED_IMAGE_NAMES, seed_image

    params = SpectrogramParams()
    policy = LoudnessPolicy()
    started = time.perf_counter()
    images = {name: seed_image(name) for name in SEED_IMAGE_NAMES}
    for name, audio in synthesized_items().items():
        images[name] = codec.image_from_audio(audio, params)

    print(
        f"policy: target {policy.target_lufs} LUFS, ceiling {policy.ceiling_dbtp} dBTP, "
        f"limiter budget {policy.max_reduction_db} dB, release {policy.release_ms} ms, "
        f"look-ahead {policy.lookahead_ms} ms"
    )
    header = (
        f"{'item':<14} {'SC raw':>7} {'SC ours':>8} {'SC prev':>8} {'LUFS':>7} {'dBTP':>6} "
        f"{'GR dB':>6} {'prev LUFS':>9} {'prev GR':>7}  reaches target"
    )
    print(header)
    sc_added: list[float] = []
    errors: list[float] = []
    peaks: list[float] = []
    clip_lufs: list[float] = []
    for name, image in images.items():
        torch.manual_seed(0)
        raw = codec.audio_from_image(image, params)
        target = codec.mel_from_image(image, params)
        finished, report = finish(raw, RATE, policy)
        previous, prev_reduction = previous_policy(raw)
        sc_raw = spectral_convergence(target, raw)
        sc_ours = spectral_convergence(target, finished)
        sc_prev = spectral_convergence(target, previous)
        sc_added.append(sc_ours - sc_raw)
        peaks.append(report.true_peak_dbtp)
        clip_lufs.append(report.output_lufs)
        if not report.budget_bound:
            errors.append(abs(report.output_lufs - policy.target_lufs))
        print(
            f"{name:<14} {sc_raw:>7.4f} {sc_ours:>8.4f} {sc_prev:>8.4f} "
            f"{report.output_lufs:>7.2f} {report.true_peak_dbtp:>6.2f} "
            f"{report.reduction_db:>6.2f} {integrated_loudness(previous, RATE):>9.2f} "
            f"{prev_reduction:>7.2f}  {'no (stays quieter)' if report.budget_bound else 'yes'}"
        )

    radio_clips: list[float] = []

    def made(_index: int, request: object) -> None:
        audio = synth_clip(request)  # type: ignore[arg-type]
        radio_clips.append(finish(audio, RATE, policy)[1].output_lufs)

    state = queue_prompt(initial_state("jazz", 11), "dark techno")
    pcm, _ = render_radio(
        lambda r: SyntheticClip(synth_clip(r), RATE), state, args.radio_s, on_clip=made
    )
    radio = pcm16_to_float(pcm).T
    radio_lufs = integrated_loudness(radio, 48_000)
    radio_peak = true_peak_dbtp(radio)
    peaks.append(radio_peak)
    clips_mean = float(np.mean(radio_clips))
    print(
        f"radio {args.radio_s:g} s ({len(radio_clips)} clips): {radio_lufs:.2f} LUFS, "
        f"{radio_peak:.2f} dBTP; its clips finished as clips: {clips_mean:.2f} LUFS mean "
        f"(range {min(radio_clips):.2f} to {max(radio_clips):.2f})"
    )
    print(
        f"took {time.perf_counter() - started:.1f} s; load average at the end: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"fidelity: sc added {max(sc_added):.4f} max, loudness error "
        f"{max(errors) if errors else float('nan'):.2f} LU max, true peak {max(peaks):.2f} "
        f"dBTP max, radio vs clips {abs(radio_lufs - clips_mean):.2f} LU"
    )


if __name__ == "__main__":
    main()
