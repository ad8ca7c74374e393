"""Codec benchmark: image -> audio, ours against Riffusion's path, in the same run.

Renders synthesized music clips (chords + bass + drums, 5.11 s) to 512-column spectrogram
images, then back to audio with our fast reconstruction and with Riffusion's (torchaudio 2.11
InverseMelScale lstsq + GriffinLim n_fft 17640, 32 iterations, momentum 0.99, random init).
Runs alternate between the two so that load from other processes hits both alike.

Quality: spectral convergence SC = ||Mt - g Mel(|STFT(y)|)|| / ||Mt|| with the optimal scalar g,
Mt the mel amplitudes decoded from the image, always measured with the reference analysis
(n_fft 17640, window 4410, 512 mels). Lower is better.

Last line: ``codec: speedup <X>x, spectral convergence <ours> vs <baseline>`` with X = median
baseline time / median our time (image -> audio of one 512-column image) and the SCs averaged
over clips. Usage: ``python benchmarks/codec.py [--clips 3] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def spectral_convergence(target: np.ndarray, audio: np.ndarray) -> float:
    from generation.codec import mel_from_audio
    from generation.params import SpectrogramParams

    mel = mel_from_audio(audio, SpectrogramParams())[..., : target.shape[-1]]
    gain = float((target * mel).sum() / (mel * mel).sum())
    return float(np.linalg.norm(target - gain * mel) / np.linalg.norm(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per clip and method")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from generation import codec, phase
    from generation.params import SpectrogramParams
    from generation.synth import music_clip

    params = SpectrogramParams()
    started = time.perf_counter()
    images = [codec.image_from_audio(music_clip(v), params) for v in range(args.clips)]
    print(f"synthesized and encoded {args.clips} clips in {time.perf_counter() - started:.2f} s")
    assert all(im.size == (512, 512) for im in images), [im.size for im in images]

    started = time.perf_counter()
    codec.audio_from_image(images[0], params)  # filterbank inverse, JIT cache load
    print(f"one-off set-up (first call, not counted): {time.perf_counter() - started:.2f} s")

    def ours(image: object) -> np.ndarray:
        return codec.audio_from_image(image, params)  # type: ignore[arg-type]

    def baseline(image: object) -> np.ndarray:
        return phase.riffusion_baseline(codec.mel_from_image(image, params), params)  # type: ignore[arg-type]

    baseline(images[0])  # warm-up of torch's FFT plans

    our_times: list[float] = []
    base_times: list[float] = []
    our_sc: list[float] = []
    base_sc: list[float] = []
    our_cpu: list[float] = []  # CPU seconds (both threads): less sensitive to other load
    base_cpu: list[float] = []
    print(f"{'clip':>4} {'ours s':>8} {'base s':>8} {'SC ours':>8} {'SC base':>8}")
    for index, image in enumerate(images):
        target = codec.mel_from_image(image, params)
        clip_ours: list[float] = []
        clip_base: list[float] = []
        for run in range(args.runs):
            torch.manual_seed(1000 * index + run)
            c0, t0 = time.process_time(), time.perf_counter()
            mine = ours(image)
            c1, t1 = time.process_time(), time.perf_counter()
            theirs = baseline(image)
            c2, t2 = time.process_time(), time.perf_counter()
            clip_ours.append(t1 - t0)
            clip_base.append(t2 - t1)
            our_cpu.append(c1 - c0)
            base_cpu.append(c2 - c1)
            if run == 0:
                our_sc.append(spectral_convergence(target, mine))
            base_sc.append(spectral_convergence(target, theirs))
        our_times += clip_ours
        base_times += clip_base
        print(
            f"{index:>4} {statistics.median(clip_ours):>8.3f} {statistics.median(clip_base):>8.3f}"
            f" {our_sc[-1]:>8.4f} {statistics.mean(base_sc[-args.runs :]):>8.4f}"
        )
    speedup = statistics.median(base_times) / statistics.median(our_times)
    print(
        f"median image->audio: ours {statistics.median(our_times):.3f} s, "
        f"baseline {statistics.median(base_times):.3f} s "
        f"(all runs: ours {[round(t, 3) for t in our_times]}, "
        f"baseline {[round(t, 2) for t in base_times]})"
    )
    print(
        f"median CPU seconds: ours {statistics.median(our_cpu):.3f}, baseline "
        f"{statistics.median(base_cpu):.3f} "
        f"(ratio {statistics.median(base_cpu) / statistics.median(our_cpu):.1f}x); "
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"codec: speedup {speedup:.1f}x, spectral convergence "
        f"{statistics.mean(our_sc):.4f} vs {statistics.mean(base_sc):.4f}"
    )


if __name__ == "__main__":
    main()
