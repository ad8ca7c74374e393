"""A spectrogram picture for people: colour, time in seconds, frequency in Hz.

The raw model image is grey, upside-down in the sense people expect (loud = dark) and has no
axes; it is kept for remixing. This renders the same data readably: loud = bright in a
perceptual colour map, with real axes. matplotlib's object API (no pyplot) keeps it free of
global figure state, and the Agg canvas needs no display.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from generation.params import SpectrogramParams

_FREQ_TICKS_HZ = (100, 200, 500, 1000, 2000, 4000, 8000)


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _row_for_hz(hz: float, params: SpectrogramParams) -> float:
    """Fractional mel-band index of ``hz`` (0 = lowest band) for an HTK filterbank."""
    lo, hi = _mel(params.min_frequency), _mel(params.max_frequency)
    step = (hi - lo) / (params.num_frequencies + 1)
    return (_mel(hz) - lo) / step - 1.0


def render_picture(
    image: Image.Image, params: SpectrogramParams, *, title: str | None = None
) -> Image.Image:
    """Colour-mapped spectrogram with axes (RGB); stereo images get one panel per channel."""
    from matplotlib.figure import Figure

    rgb = np.asarray(image.convert("RGB"))
    planes = [rgb[..., 1], rgb[..., 2]] if params.stereo else [rgb[..., 0]]
    labels = ["left", "right"] if params.stereo else [""]
    seconds = image.width * params.hop_length / params.sample_rate
    fig = Figure(figsize=(8.0, 3.2 * len(planes) + 0.4), dpi=100)
    axes = fig.subplots(len(planes), 1, squeeze=False)[:, 0]
    rows = image.height
    ticks = [
        (rows - 1 - _row_for_hz(hz, params), hz)
        for hz in _FREQ_TICKS_HZ
        if params.min_frequency < hz < params.max_frequency
    ]
    for ax, plane, label in zip(axes, planes, labels, strict=True):
        # pixel k means amplitude (1 - k/255)^4 of the peak: 255 - k is proportional to dB-ish
        ax.imshow(
            255 - plane.astype(np.float32),
            aspect="auto",
            cmap="magma",
            vmin=0,
            vmax=255,
            interpolation="nearest",
            extent=(0.0, seconds, rows - 0.5, -0.5),
        )
        ax.set_yticks([r for r, _ in ticks])
        ax.set_yticklabels([f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for _, hz in ticks])
        ax.set_ylabel("Hz" + (f" ({label})" if label else ""))
    axes[-1].set_xlabel("seconds")
    if title:
        axes[0].set_title(title, fontsize=10)
    # fixed margins: tight_layout costs more than the drawing itself
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92 if title else 0.97, bottom=0.12, hspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


TAKE_LABEL_PX = 24


def combine_takes(pictures: Sequence[Path]) -> bytes:
    """One PNG for a set of takes: their readable pictures stacked, each under "take N".

    One picture rather than N keeps a post of four takes to one image in the client, and the
    labels match the numbers on the take's buttons.
    """
    from PIL import ImageDraw, ImageFont

    images = []
    for path in pictures:
        with Image.open(path) as opened:
            images.append(opened.convert("RGB"))
    width = max(image.width for image in images)
    height = sum(image.height + TAKE_LABEL_PX for image in images)
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=16)
    top = 0
    for number, image in enumerate(images, start=1):
        draw.text((8, top + 3), f"take {number}", fill="black", font=font)
        top += TAKE_LABEL_PX
        out.paste(image, (0, top))
        top += image.height
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()
