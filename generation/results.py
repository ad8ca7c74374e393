"""What one generation hands back: pictures, sound, and enough metadata to make it again."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from generation.types import GenerationRequest


@dataclass
class GenerationResult:
    """One finished request.

    ``raw_image`` is the model's spectrogram exactly as decoded (for remix and extend, the whole
    joined track), which is what the codec turns into ``audio`` and what a later extend or
    variation starts from. ``picture`` is the human-readable rendering with axes (``None``
    for radio clips, which are heard, not looked at). ``latent`` is the final (4, h, w) latent
    of the newest window, kept so extend and the tests can check what was preserved.
    ``notes`` are things the person should be told (a truncated prompt).
    """

    request: GenerationRequest
    raw_image: Image.Image
    audio: np.ndarray
    sample_rate: int
    picture: Image.Image | None
    timings: dict[str, float]
    model_id: str
    latent: np.ndarray
    model_revision: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return float(self.audio.shape[-1]) / float(self.sample_rate)
