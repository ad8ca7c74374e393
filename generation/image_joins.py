"""Joining and fitting spectrogram images, column-wise: the picture side of the pipeline.

A spectrogram's columns are time, so fitting a seed to a width, laying a transition's clips
side by side, cross-blending a remix's windows and joining an extension to its parent are all
column operations on plain PIL images; none of them touches the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


def fit_width(image: Image.Image, width: int, height: int, *, from_right: bool) -> Image.Image:
    """Crop (or tile) a spectrogram to ``width`` columns and the model's ``height`` rows."""
    image = image.convert("RGB")
    if image.height != height:
        image = image.resize((image.width, height), Image.Resampling.LANCZOS)
    if image.width < width:
        tiled = Image.new("RGB", (width, height))
        for x in range(0, width, image.width):
            tiled.paste(image, (x, 0))
        image = tiled
    if image.width == width:
        return image
    left = image.width - width if from_right else 0
    return image.crop((left, 0, left + width, height))


EXTEND_FADE_COLUMNS = 64


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    joined = Image.new("RGB", (sum(image.width for image in images), images[0].height))
    left = 0
    for image in images:
        joined.paste(image.convert("RGB"), (left, 0))
        left += image.width
    return joined


def stitch(images: Sequence[Image.Image], stride: int, overlap: int) -> Image.Image:
    """Windows laid side by side, linearly cross-blended where they overlap."""
    height = images[0].height
    width = stride * (len(images) - 1) + images[0].width
    canvas = np.zeros((height, width, 3), dtype=np.float64)
    weight = np.zeros((1, width, 1), dtype=np.float64)
    for index, image in enumerate(images):
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        ramp = np.ones(image.width)
        if index > 0:
            ramp[:overlap] = np.linspace(0.0, 1.0, overlap + 2)[1:-1]
        if index < len(images) - 1:
            ramp[-overlap:] = np.minimum(ramp[-overlap:], np.linspace(1.0, 0.0, overlap + 2)[1:-1])
        left = index * stride
        canvas[:, left : left + image.width] += pixels * ramp[None, :, None]
        weight[:, left : left + image.width] += ramp[None, :, None]
    return Image.fromarray(np.round(canvas / weight).astype(np.uint8), mode="RGB")


def join_extension(parent: Image.Image, new: Image.Image, kept_px: int) -> Image.Image:
    """Parent + the new clip's fresh columns; a short fade where the kept region ends.

    The new clip's first ``kept_px`` columns re-draw the parent's last ones through the VAE;
    we keep the parent's own pixels there and fade into the new clip over the last beat of
    that region, so the join carries no jump in either direction.
    """
    fade = min(EXTEND_FADE_COLUMNS, kept_px)
    head = np.asarray(parent.convert("RGB"), dtype=np.float64)
    tail = np.asarray(new.convert("RGB"), dtype=np.float64)
    parent_width = head.shape[1]
    joined = np.concatenate([head, tail[:, kept_px:]], axis=1)
    ramp = np.linspace(0.0, 1.0, fade + 2)[1:-1][None, :, None]
    start = parent_width - fade
    joined[:, start:parent_width] = (1 - ramp) * head[:, start:] + ramp * tail[
        :, kept_px - fade : kept_px
    ]
    return Image.fromarray(np.round(joined).astype(np.uint8), mode="RGB")
