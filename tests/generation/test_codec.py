"""The codec: Riffusion's exact image encoding, EXIF, shapes, and reconstruction quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from generation import codec, phase
from generation.audio import seam_ratio
from generation.params import SpectrogramParams
from generation.synth import music_clip
from generation.types import InvalidRequest

PARAMS = SpectrogramParams()
STEREO = SpectrogramParams(stereo=True)


def spectral_convergence(target: np.ndarray, audio: np.ndarray, params: SpectrogramParams) -> float:
    """||Mt - g Mel(y)|| / ||Mt|| with the optimal scalar g (the benchmark's metric)."""
    mel = codec.mel_from_audio(audio, params)[..., : target.shape[-1]]
    gain = float((target * mel).sum() / (mel * mel).sum())
    return float(np.linalg.norm(target - gain * mel) / np.linalg.norm(target))


@pytest.fixture(scope="module")
def clip_mel() -> np.ndarray:
    """Decoded mel of a synthesized 5.11 s clip, i.e. what an image hands the phase code."""
    image = codec.image_from_audio(music_clip(1), PARAMS)
    return codec.mel_from_image(image, PARAMS)


# --- exact encoding -------------------------------------------------------------------------


def test_pixels_follow_riffusions_formula_with_truncation() -> None:
    # ratios to the max chosen so 255 - 255 * r**0.25 is known: 1 -> 0, 1/16 -> 127.5 -> 127,
    # 1/256 -> 191.25 -> 191, 1e-4 -> 229.5 -> 229, 0 -> 255
    column = np.array([1.0, 1 / 16, 1 / 256, 1e-4, 0.0], dtype=np.float32) * 8.0
    mel = np.tile(column[None, :, None], (1, 1, 3))
    pixels = np.asarray(codec.image_from_mel(mel, PARAMS))
    assert pixels.shape == (5, 3, 3)
    # row 0 of the image is the highest band: the mel array is flipped top to bottom
    assert pixels[:, 0, 0].tolist() == [255, 229, 191, 127, 0]
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_stereo_pixels_put_left_in_green_and_right_in_blue() -> None:
    left = np.array([[1.0], [0.0]], dtype=np.float32)
    right = np.array([[0.0], [1 / 16]], dtype=np.float32)
    pixels = np.asarray(codec.image_from_mel(np.stack([left, right]), STEREO))
    assert pixels[:, 0, 0].tolist() == [0, 0]
    assert pixels[:, 0, 1].tolist() == [255, 0]  # flipped: row 0 = band 1
    assert pixels[:, 0, 2].tolist() == [127, 255]


def test_decoding_reads_red_only_and_inverts_the_companding() -> None:
    rgb = np.zeros((3, 2, 3), dtype=np.uint8)
    rgb[..., 0] = np.array([[255, 0], [127, 64], [0, 0]], dtype=np.uint8)
    rgb[..., 1:] = 17  # model outputs differ slightly per channel; only red counts
    mel = codec.mel_from_image(Image.fromarray(rgb, mode="RGB"), PARAMS)
    assert mel.shape == (1, 3, 2)
    expected_top_row = np.array([0.0, 30e6])  # image row 0 -> highest band (index 2)
    assert np.allclose(mel[0, 2], expected_top_row)
    assert mel[0, 1, 0] == pytest.approx((128 / 255) ** 4 * 30e6, rel=1e-6)
    assert mel[0, 0, 1] == pytest.approx(30e6)


def test_grey_and_palette_images_decode_like_rgb() -> None:
    grey = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20, mode="L")
    as_rgb = codec.mel_from_image(grey.convert("RGB"), PARAMS)
    assert np.array_equal(codec.mel_from_image(grey, PARAMS), as_rgb)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_reencoding_a_decoded_image_moves_pixels_at_most_one_level(data: st.DataObject) -> None:
    rows = data.draw(st.integers(1, 12))
    cols = data.draw(st.integers(1, 12))
    flat = data.draw(st.lists(st.integers(0, 255), min_size=rows * cols, max_size=rows * cols))
    grey = np.array(flat, dtype=np.uint8).reshape(rows, cols)
    grey[0, 0] = 0  # the loudest pixel fixes the scale, as in every real spectrogram
    image = Image.fromarray(grey, mode="L").convert("RGB")
    again = np.asarray(codec.image_from_mel(codec.mel_from_image(image, PARAMS), PARAMS))
    diff = grey.astype(int) - again[..., 0].astype(int)
    assert diff.min() >= 0
    assert diff.max() <= 1  # the truncating cast can lose one level to float rounding


def test_silence_encodes_white_instead_of_dividing_by_zero() -> None:
    pixels = np.asarray(codec.image_from_mel(np.zeros((1, 4, 5), np.float32), PARAMS))
    assert (pixels == 255).all()


# --- EXIF ----------------------------------------------------------------------------------


def test_exif_carries_riffusions_tags_through_a_png_file(tmp_path: Path) -> None:
    params = SpectrogramParams(stereo=True, max_frequency=8000, power_for_image=0.3)
    mel = np.random.default_rng(0).random((2, params.num_frequencies, 7), dtype=np.float32)
    path = codec.save_png(codec.image_from_mel(mel, params), tmp_path / "x.png")
    loaded = codec.open_image(path)
    exif = loaded.getexif()
    assert exif[codec.EXIF_SAMPLE_RATE] == 44_100
    assert exif[codec.EXIF_STEREO] == 1
    assert exif[codec.EXIF_MAX_FREQUENCY] == 8000
    assert exif[codec.EXIF_MAX_VALUE] == pytest.approx(float(mel.max()))
    assert codec.params_from_image(loaded) == params


def test_images_without_exif_get_riffusions_defaults() -> None:
    assert codec.params_from_image(Image.new("RGB", (8, 8))) == SpectrogramParams()


def test_unreadable_image_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InvalidRequest, match="Could not read"):
        codec.open_image(bad)
    with pytest.raises(InvalidRequest, match="No such"):
        codec.open_image(tmp_path / "missing.png")


# --- shapes -------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples=st.integers(1, 30_000), channels=st.integers(1, 3), stereo=st.booleans())
def test_analysis_shape_follows_the_centred_stft(samples: int, channels: int, stereo: bool) -> None:
    params = STEREO if stereo else PARAMS
    audio = np.random.default_rng(samples).uniform(-0.5, 0.5, (channels, samples))
    mel = codec.mel_from_audio(audio.astype(np.float32), params)
    assert mel.shape == (params.channels, 512, 1 + samples // 441)
    assert mel.dtype == np.float32
    assert (mel >= 0).all()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(2, 40), periodic=st.booleans(), stereo=st.booleans())
def test_reconstruction_length_for_any_width(width: int, periodic: bool, stereo: bool) -> None:
    params = STEREO if stereo else PARAMS
    mel = np.random.default_rng(width).random((params.channels, 512, width), dtype=np.float32)
    audio = codec.audio_from_mel(mel, params, periodic=periodic)
    hops = width if periodic else width - 1
    assert audio.shape == (params.channels, hops * 441)
    assert audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert float(np.abs(audio).max()) <= 1.0


def test_one_column_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="at least 2 columns"):
        codec.audio_from_mel(np.ones((1, 512, 1), np.float32), PARAMS)


def test_wrong_number_of_bands_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="512"):
        codec.audio_from_mel(np.ones((1, 100, 10), np.float32), PARAMS)


# --- quality ------------------------------------------------------------------------------


def test_round_trip_of_music_is_faithful(clip_mel: np.ndarray) -> None:
    audio = codec.audio_from_mel(clip_mel, PARAMS)
    assert audio.shape == (1, 511 * 441)
    # Riffusion's own path reaches about 0.066 on this material (benchmarks/codec.py)
    assert spectral_convergence(clip_mel, audio, PARAMS) < 0.06


def test_reconstruction_is_deterministic(clip_mel: np.ndarray) -> None:
    short = clip_mel[..., :64]
    assert np.array_equal(codec.audio_from_mel(short, PARAMS), codec.audio_from_mel(short, PARAMS))


def test_fast_path_beats_riffusions_baseline_on_the_same_image(clip_mel: np.ndarray) -> None:
    import torch

    torch.manual_seed(0)
    short = np.ascontiguousarray(clip_mel[..., :100])
    ours = spectral_convergence(short, codec.audio_from_mel(short, PARAMS), PARAMS)
    theirs = spectral_convergence(short, phase.riffusion_baseline(short, PARAMS), PARAMS)
    assert ours < theirs


def test_periodic_reconstruction_tiles_without_a_seam(clip_mel: np.ndarray) -> None:
    loop = codec.audio_from_mel(clip_mel, PARAMS, periodic=True)
    straight = codec.audio_from_mel(clip_mel, PARAMS)
    assert loop.shape[1] == 512 * 441
    assert seam_ratio(loop, 0) < 0.5
    # played straight, the wrap is a cut between unrelated phases
    assert seam_ratio(straight, 0) > seam_ratio(loop, 0)
    twice = np.concatenate([loop, loop], axis=1)
    assert seam_ratio(twice, loop.shape[1]) < 1.0


def test_stereo_round_trip_keeps_the_channels_apart() -> None:
    left, right = music_clip(0, seconds=2.0)[0], music_clip(3, seconds=2.0)[0]
    audio = np.stack([left, right])
    image = codec.image_from_audio(audio, STEREO)
    pixels = np.asarray(image)
    assert (pixels[..., 0] == 0).all()
    assert not np.array_equal(pixels[..., 1], pixels[..., 2])
    target = codec.mel_from_image(image, STEREO)
    out = codec.audio_from_image(image, STEREO)
    assert out.shape == (2, (image.width - 1) * 441)
    for ch in range(2):
        mine = spectral_convergence(target[ch : ch + 1], out[ch : ch + 1], PARAMS)
        other = spectral_convergence(target[ch : ch + 1], out[1 - ch : 2 - ch], PARAMS)
        assert mine < 0.1
        assert other > 2 * mine


def test_mono_params_mix_stereo_input_down() -> None:
    left = music_clip(0, seconds=0.5)[0]
    mel = codec.mel_from_audio(np.stack([left, -left * 0 + left]), PARAMS)
    assert np.allclose(mel, codec.mel_from_audio(left[None], PARAMS), rtol=1e-4, atol=1e-3)
