"""A spectrogram picture for people: colour, time in seconds, frequency in Hz.

The raw model image is grey, upside-down in the sense people expect (loud = dark) and has no
axes; it is kept for remixing. This renders the same data readably: loud = bright in a
perceptual colour map, with real axes. matplotlib's object API (no pyplot) keeps it free of
global figure state, and the Agg canvas needs no display.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from generation.params import SpectrogramParams
from generation.types import GenerationRequest, Mode

_FREQ_TICKS_HZ = (100, 200, 500, 1000, 2000, 4000, 8000)


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _row_for_hz(hz: float, params: SpectrogramParams) -> float:
    """Fractional mel-band index of ``hz`` (0 = lowest band) for an HTK filterbank."""
    lo, hi = _mel(params.min_frequency), _mel(params.max_frequency)
    step = (hi - lo) / (params.num_frequencies + 1)
    return (_mel(hz) - lo) / step - 1.0


INCHES_PER_CLIP = 8.0
"""A 5.11 s clip is 8 inches (800 px) wide; longer audio grows the picture instead of
squeezing 20 s into the same width. Capped so a long transition stays postable."""
MAX_INCHES = 48.0
DB_TICKS = (0, -6, -12, -24, -48)


def _level_for_db(db: float) -> float:
    """Displayed level (255 - pixel) for ``db`` below the peak: pixel k is amplitude
    (1 - k/255)^4, so 20 log10 of it is 80 log10(level/255)."""
    return float(255.0 * 10.0 ** (db / 80.0))


def render_picture(
    image: Image.Image,
    params: SpectrogramParams,
    *,
    title: str | None = None,
    bpm: float | None = None,
    boundaries_s: Sequence[float] = (),
) -> Image.Image:
    """Colour-mapped spectrogram with axes and a dB colour bar (RGB); stereo images get one
    panel per channel. ``bpm`` draws a beat grid (bars brighter), ``boundaries_s`` marks where
    the clips of a blend or an extension meet."""
    from matplotlib.figure import Figure

    rgb = np.asarray(image.convert("RGB"))
    planes = [rgb[..., 1], rgb[..., 2]] if params.stereo else [rgb[..., 0]]
    labels = ["left", "right"] if params.stereo else [""]
    seconds = image.width * params.hop_length / params.sample_rate
    clip_s = 512 * params.hop_length / params.sample_rate
    width_in = min(MAX_INCHES, max(INCHES_PER_CLIP, INCHES_PER_CLIP * seconds / clip_s))
    fig = Figure(figsize=(width_in, 3.2 * len(planes) + 0.4), dpi=100)
    axes = fig.subplots(len(planes), 1, squeeze=False)[:, 0]
    rows = image.height
    ticks = [
        (rows - 1 - _row_for_hz(hz, params), hz)
        for hz in _FREQ_TICKS_HZ
        if params.min_frequency < hz < params.max_frequency
    ]
    shown = None
    for ax, plane, label in zip(axes, planes, labels, strict=True):
        shown = ax.imshow(
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
        if bpm:
            beat = 60.0 / bpm
            for index in range(1, int(seconds / beat) + 1):
                downbeat = index % 4 == 0
                ax.axvline(
                    index * beat,
                    color="white",
                    alpha=0.6 if downbeat else 0.3,
                    linewidth=1.0 if downbeat else 0.6,
                )
        for at in boundaries_s:
            ax.axvline(at, color="cyan", linestyle="--", linewidth=1.2)
    axes[-1].set_xlabel("seconds" + (f" · beat grid at {bpm:g} BPM" if bpm else ""))
    if title:
        axes[0].set_title(title, fontsize=10)
    # fixed margins: tight_layout costs more than the drawing itself
    left, right = 0.64 / width_in, 1.0 - 0.9 / width_in
    fig.subplots_adjust(
        left=left, right=right, top=0.92 if title else 0.97, bottom=0.12, hspace=0.3
    )
    colour_axis = fig.add_axes((right + 0.15 / width_in, 0.12, 0.12 / width_in, 0.8))
    assert shown is not None  # one panel at least
    bar = fig.colorbar(shown, cax=colour_axis)
    bar.set_ticks([_level_for_db(db) for db in DB_TICKS])
    bar.set_ticklabels([f"{db} dB" for db in DB_TICKS])
    # raw pixels: a PNG round trip here cost 0.1 s of zlib per picture, and the picture is
    # encoded once anyway when it is written
    buf = io.BytesIO()
    fig.savefig(buf, format="rgba")
    size = fig.canvas.get_width_height()
    return Image.frombuffer("RGBA", size, buf.getvalue(), "raw", "RGBA", 0, 1).convert("RGB")


def picture_marks(request: GenerationRequest, params: SpectrogramParams) -> dict[str, Any]:
    """The title, beat grid and clip boundaries a request's picture should show.

    The tempo is known only for the shipped seed images (2 bars of 4/4 at 93.75 BPM); a
    transition's clips meet at every ``width`` columns; an extension meets its parent where
    the parent's image ended, and the parent its own parent, back along the chain.
    """
    from generation.seeds import SEED_IMAGE_NAMES
    from generation.synth import BPM

    seconds_per_column = params.hop_length / params.sample_rate
    if request.end is not None:
        title = (
            f"{request.start.prompt} → {request.end.prompt} · seeds "
            f"{request.start.seed} → {request.end.seed}"
        )
    else:
        title = f"{request.start.prompt} · seed {request.start.seed}"
    boundaries: list[float] = []
    if request.end is not None and request.clips > 1:
        boundaries = [i * request.width * seconds_per_column for i in range(1, request.clips)]
    elif request.mode is Mode.EXTEND and request.seed_image:
        boundaries = [columns * seconds_per_column for columns in chain_joins(request.seed_image)]
    tempo = request.seed_image in SEED_IMAGE_NAMES and request.mode is not Mode.REMIX
    return {
        "title": title if len(title) <= 120 else title[:119] + "…",
        "bpm": BPM if tempo else None,
        "boundaries_s": boundaries,
    }


MAX_CHAIN_DEPTH = 64
"""Far more links than ``/riff length`` makes; bounds a walk through records made by hand."""


def chain_joins(parent_png: str) -> list[int]:
    """The columns where the links of an extend chain meet, oldest first.

    An extension is its parent's image with new columns joined on, so each ancestor's width is
    one join. The ancestors are found through the JSON record beside each raw PNG
    (``stem.json`` beside ``stem.png``, see ``generation.outputs``); a missing or unreadable
    record or image ends the walk, keeping the joins read so far, so a moved file costs marks,
    never the picture.
    """
    joins: list[int] = []
    current: Path | None = Path(parent_png)
    seen: set[Path] = set()
    while current is not None and current not in seen and len(joins) < MAX_CHAIN_DEPTH:
        seen.add(current)
        try:
            with Image.open(current) as parent:
                joins.append(parent.width)
        except (OSError, ValueError):
            break
        current = _extended_from(current)
    return sorted(set(joins))


def _extended_from(raw_png: Path) -> Path | None:
    """The raw PNG that the clip at ``raw_png`` extended, if its record says it was one."""
    try:
        record = json.loads(raw_png.with_suffix(".json").read_text(encoding="utf-8"))
        request = record["request"]
        if request["mode"] != Mode.EXTEND.value or not request["seed_image"]:
            return None
        seed = Path(str(request["seed_image"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # a relative path that no longer resolves is read from the record's own folder
    return seed if seed.is_absolute() or seed.exists() else raw_png.parent / seed


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
