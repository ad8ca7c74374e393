"""The human-readable spectrogram picture."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation import codec
from generation.params import SpectrogramParams
from generation.picture import TAKE_LABEL_PX, combine_takes, picture_marks, render_picture
from generation.seeds import seed_image
from generation.synth import music_clip
from generation.types import Endpoint, GenerationRequest, Mode


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


def test_picture_grows_with_length_and_carries_a_db_colour_bar() -> None:
    one = seed_image("og_beat")
    three = Image.new("RGB", (3 * one.width, one.height))
    for index in range(3):
        three.paste(one, (index * one.width, 0))
    short = render_picture(one, SpectrogramParams())
    long = render_picture(three, SpectrogramParams())
    assert short.width == 800
    assert long.width == 3 * short.width
    right = np.asarray(short)[60:300, short.width - 100 :]
    columns = [_colourfulness(right[:, i : i + 1]) for i in range(right.shape[1])]
    assert max(columns) > 30  # the colour bar, right of the spectrogram


def test_beat_grid_and_boundaries_are_drawn() -> None:
    params = SpectrogramParams()
    raw = seed_image("og_beat")
    plain = np.asarray(render_picture(raw, params)).astype(int)
    gridded = np.asarray(render_picture(raw, params, bpm=93.75, boundaries_s=[2.5])).astype(int)
    assert np.abs(gridded - plain).sum(axis=2).astype(bool).any(axis=0).sum() > 8


def test_marks_name_prompt_and_seed_the_tempo_of_seed_images_and_clip_joins() -> None:
    params = SpectrogramParams()
    riff = GenerationRequest(Mode.RIFF, Endpoint("lofi", 7), seed_image="og_beat")
    marks = picture_marks(riff, params)
    assert marks == {"title": "lofi · seed 7", "bpm": 93.75, "boundaries_s": []}
    remix = GenerationRequest(Mode.REMIX, Endpoint("x", 1), seed_image="/tmp/song.mp3")
    assert picture_marks(remix, params)["bpm"] is None
    blend = GenerationRequest(
        Mode.BLEND, Endpoint("a", 1), end=Endpoint("b", 2), clips=3, seed_image=None
    )
    marks = picture_marks(blend, params)
    assert marks["title"] == "a → b · seeds 1 → 2"
    assert marks["boundaries_s"] == pytest.approx([5.12, 10.24])


def _clip(folder: Path, stem: str, width: int, parent: str | None) -> str:
    """A raw PNG and its JSON record, as ``generation.outputs`` leaves them."""
    import json

    Image.new("L", (width, 512)).save(folder / f"{stem}.png")
    mode = Mode.EXTEND if parent else Mode.RIFF
    request = GenerationRequest(mode, Endpoint("lofi", 1), seed_image=parent or "og_beat")
    record = {"request": request.to_dict(), "files": {"raw_png": f"{stem}.png"}}
    (folder / f"{stem}.json").write_text(json.dumps(record), encoding="utf-8")
    return str(folder / f"{stem}.png")


def test_an_extension_marks_every_join_of_its_chain_oldest_first(tmp_path: Path) -> None:
    params = SpectrogramParams()
    column_s = params.hop_length / params.sample_rate
    first = _clip(tmp_path, "a", 512, None)
    second = _clip(tmp_path, "b", 768, first)
    # the third link's request is what picture_marks sees; its parent is the second link
    third = GenerationRequest(Mode.EXTEND, Endpoint("lofi", 1), seed_image=second)
    marks = picture_marks(third, params)
    assert marks["boundaries_s"] == pytest.approx([512 * column_s, 768 * column_s])
    # a record whose parent is gone keeps the joins that can still be read
    Path(first).unlink()
    assert picture_marks(third, params)["boundaries_s"] == pytest.approx([768 * column_s])
    # a relative parent path is read from the record's folder
    relative = _clip(tmp_path, "c", 640, "a2.png")
    _clip(tmp_path, "a2", 256, None)
    fourth = GenerationRequest(Mode.EXTEND, Endpoint("lofi", 1), seed_image=relative)
    assert picture_marks(fourth, params)["boundaries_s"] == pytest.approx(
        [256 * column_s, 640 * column_s]
    )
