"""Inpainting masks for img2img: which parts of the seed image survive the generation.

Convention (Riffusion's): **white is repainted, black is kept**, gray g keeps a fraction
1 - g/255 of the seed image's (re-noised) latent at every step. Because spectrograms are drawn
with high frequencies at the top, a mask over the top rows keeps the seed's hi-hats and
percussion, which holds a generation on the seed's beat whatever the prompt says.

The shipped masks are drawn here rather than stored as PNGs; they are the same shapes as
Riffusion's ``mask_top_third_*`` files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from generation.types import InvalidRequest

if TYPE_CHECKING:
    import torch


def _top_band(gray: int, fraction: float = 1 / 3) -> Callable[[int, int], Image.Image]:
    def draw(width: int, height: int) -> Image.Image:
        pixels = np.full((height, width), 255, dtype=np.uint8)
        pixels[: round(height * fraction), :] = gray
        return Image.fromarray(pixels, mode="L")

    return draw


SHIPPED_MASKS: dict[str, Callable[[int, int], Image.Image]] = {
    # keep the top third (about 2.5-10 kHz: hi-hats, cymbals) exactly; repaint the rest
    "keep_hihat": _top_band(0),
    # Riffusion's mask_top_third_75 / _95: repaint the top third 75 % / 95 %, keep 25 % / 5 %
    "top_third_75": _top_band(192),
    "top_third_95": _top_band(242),
}


def load_mask(spec: str, width: int, height: int) -> Image.Image:
    """A grayscale mask image of ``width`` x ``height`` from a shipped name or a PNG path."""
    if spec in SHIPPED_MASKS:
        return SHIPPED_MASKS[spec](width, height)
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(SHIPPED_MASKS))
        raise InvalidRequest(f"Mask '{spec}' is neither a shipped mask ({names}) nor a file.")
    try:
        with Image.open(path) as image:
            mask = image.convert("L")
    except OSError as error:
        raise InvalidRequest(f"Mask '{spec}' is not a readable image: {error}") from error
    if mask.size != (width, height):
        mask = mask.resize((width, height), Image.Resampling.NEAREST)
    return mask


def keep_fraction(mask: Image.Image, latent_height: int, latent_width: int) -> torch.Tensor:
    """(1, 1, h, w) float32 tensor: the share of the seed latent kept at each latent pixel.

    torch is imported here, not above, so that validation can check mask names without it."""
    import torch

    small = mask.convert("L").resize((latent_width, latent_height), Image.Resampling.NEAREST)
    values = np.asarray(small, dtype=np.float32) / 255.0
    return torch.from_numpy(1.0 - values)[None, None]
