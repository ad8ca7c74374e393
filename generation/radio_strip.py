"""The now-playing message's picture: the last seconds of the radio's raw spectrograms, small.

Each clip's raw image (512 x 512, loud is dark) is shrunk once, off the event loop, when the
clip is made; the strip is those thumbnails side by side, oldest first, inverted so that loud
is bright on Discord's dark theme. Plain PIL, no plotting library: it runs at every clip.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageOps

#: One 5.11 s clip becomes this many pixels wide; four clips (~20 s) make a 512 x 64 strip.
THUMB_WIDTH = 128
THUMB_HEIGHT = 64


def clip_thumbnail(raw_image: Any) -> Image.Image:
    """A clip's raw spectrogram as a small grey picture, loud bright, low notes at the bottom."""
    if not isinstance(raw_image, Image.Image):
        raise TypeError("a clip thumbnail needs the clip's raw PIL image")
    grey = raw_image.convert("L").resize((THUMB_WIDTH, THUMB_HEIGHT), Image.Resampling.BOX)
    return ImageOps.invert(grey)


def strip_png(thumbnails: Sequence[Image.Image]) -> bytes:
    """Thumbnails side by side, oldest on the left, as PNG bytes."""
    if not thumbnails:
        raise ValueError("a strip needs at least one clip")
    strip = Image.new("L", (sum(t.width for t in thumbnails), THUMB_HEIGHT))
    x = 0
    for thumb in thumbnails:
        strip.paste(thumb, (x, 0))
        x += thumb.width
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
