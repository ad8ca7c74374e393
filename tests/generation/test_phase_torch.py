"""The torch phase path (the GPU's) against the numpy one, run here on CPU torch."""

from __future__ import annotations

import numpy as np
import pytest

from generation import codec
from generation.audio import seam_ratio
from generation.params import SpectrogramParams
from generation.seeds import SEED_DIR as SEED_IMAGES_DIR

PARAMS = SpectrogramParams()
SEEDS = sorted(p.stem for p in SEED_IMAGES_DIR.glob("*.png"))


def spectral_convergence(target: np.ndarray, audio: np.ndarray) -> float:
    """||Mt - g Mel(y)|| / ||Mt|| with the optimal scalar g (the codec benchmark's metric)."""
    mel = codec.mel_from_audio(audio, PARAMS)[..., : target.shape[-1]]
    gain = float((target * mel).sum() / (mel * mel).sum())
    return float(np.linalg.norm(target - gain * mel) / np.linalg.norm(target))


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("periodic", [False, True])
def test_torch_griffin_lim_matches_the_numpy_path(name: str, periodic: bool) -> None:
    mel = codec.mel_from_image(codec.open_image(SEED_IMAGES_DIR / f"{name}.png"), PARAMS)
    numpy_audio = codec.audio_from_mel(mel, PARAMS, periodic=periodic)
    torch_audio = codec.audio_from_mel(mel, PARAMS, periodic=periodic, device="cpu")
    assert torch_audio.shape == numpy_audio.shape
    assert torch_audio.dtype == np.float32
    ours = spectral_convergence(mel, torch_audio)
    assert abs(ours - spectral_convergence(mel, numpy_audio)) < 0.005
    assert ours < 0.12  # and both are good reconstructions, not equally bad ones
    if periodic:
        assert seam_ratio(torch_audio, 0) < 1.0
        twice = np.concatenate([torch_audio, torch_audio], axis=1)
        assert seam_ratio(twice, torch_audio.shape[1]) < 1.0


def test_torch_path_handles_stereo_short_and_silent_images() -> None:
    stereo = SpectrogramParams(stereo=True)
    rng = np.random.default_rng(3)
    mel = rng.random((2, 512, 9)).astype(np.float32)
    for periodic in (False, True):
        audio = codec.audio_from_mel(mel, stereo, periodic=periodic, device="cpu")
        hops = 9 if periodic else 8
        assert audio.shape == (2, hops * stereo.hop_length)
        assert np.all(np.isfinite(audio))
    silent = codec.audio_from_mel(np.zeros((1, 512, 4), np.float32), PARAMS, device="cpu")
    assert silent.shape == (1, 3 * PARAMS.hop_length)
    assert not np.any(silent)
