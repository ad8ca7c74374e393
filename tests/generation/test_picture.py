"""The human-readable spectrogram picture."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from generation import codec
from generation.params import SpectrogramParams
from generation.picture import TAKE_LABEL_PX, combine_takes, render_picture
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


def test_takes_are_stacked_in_order_each_under_its_label(tmp_path: Path) -> None:
    red, blue = tmp_path / "1.png", tmp_path / "2.png"
    Image.new("RGB", (80, 30), (255, 0, 0)).save(red)
    Image.new("RGB", (80, 30), (0, 0, 255)).save(blue)
    combined = np.asarray(Image.open(io.BytesIO(combine_takes([red, blue]))).convert("RGB"))
    assert combined.shape == (2 * (30 + TAKE_LABEL_PX), 80, 3)
    first_top, second_top = TAKE_LABEL_PX, 2 * TAKE_LABEL_PX + 30
    assert tuple(combined[first_top + 5, 40]) == (255, 0, 0)
    assert tuple(combined[second_top + 5, 40]) == (0, 0, 255)
    label = combined[:TAKE_LABEL_PX, :60]
    assert (label.sum(axis=2) < 200).any()  # the "take 1" text is drawn in the strip
