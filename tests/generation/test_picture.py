"""The human-readable spectrogram picture."""

from __future__ import annotations

import numpy as np

from generation import codec
from generation.params import SpectrogramParams
from generation.picture import render_picture
from generation.seeds import seed_image
from generation.synth import music_clip


def _colourfulness(image: np.ndarray) -> float:
    rgb = image.astype(int)
    return float(np.abs(rgb[..., 0] - rgb[..., 2]).mean())


def test_picture_is_coloured_and_larger_than_the_raw_image() -> None:
    raw = seed_image("og_beat")
    picture = render_picture(raw, SpectrogramParams(), title="og_beat")
    assert picture.mode == "RGB"
    assert picture.width > raw.width
    assert _colourfulness(np.asarray(raw)) == 0
    assert _colourfulness(np.asarray(picture)) > 5


def test_loud_is_bright_in_the_picture() -> None:
    params = SpectrogramParams()
    loud = np.zeros((1, 512, 100), np.float32)
    loud[0, :, :50] = 1.0  # left half loud, right half silent
    picture = np.asarray(render_picture(codec.image_from_mel(loud, params), params))
    h, w = picture.shape[:2]
    band = picture[h // 3 : h // 2].astype(int).sum(axis=2)
    left, right = band[:, int(w * 0.2)], band[:, int(w * 0.8)]
    assert left.mean() > right.mean() + 100


def test_stereo_pictures_get_a_panel_per_channel() -> None:
    stereo = SpectrogramParams(stereo=True)
    audio = np.concatenate([music_clip(0, seconds=1.0), music_clip(1, seconds=1.0)])
    mono_pic = render_picture(
        codec.image_from_audio(audio, SpectrogramParams()), SpectrogramParams()
    )
    stereo_pic = render_picture(codec.image_from_audio(audio, stereo), stereo)
    assert stereo_pic.height > 1.5 * mono_pic.height
