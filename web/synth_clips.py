"""Clip files from the synthetic generator, for the demo: real MP3s and spectrogram PNGs.

The demo must run without a model, yet its gallery and radio should show what the real bot
shows: the same four files per job, written by ``generation.outputs`` from a synthetic chord.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generation.codec import image_from_audio
from generation.outputs import write_outputs
from generation.params import SpectrogramParams
from generation.picture import render_picture
from generation.radio_sim import synth_clip
from generation.results import GenerationResult
from generation.types import ClipFiles, GenerationRequest

DEMO_MODEL = "synthetic"


def synthetic_result(request: GenerationRequest, *, picture: bool = True) -> GenerationResult:
    params = SpectrogramParams()
    audio = synth_clip(request, params, width=request.width)
    raw = image_from_audio(audio, params)
    shown = render_picture(raw, params, title=request.start.prompt[:60]) if picture else raw
    return GenerationResult(
        request=request,
        raw_image=raw,
        audio=audio,
        sample_rate=params.sample_rate,
        picture=shown,
        timings={"synth": 0.0},
        model_id=DEMO_MODEL,
        latent=np.zeros((4, 1, 1), dtype=np.float32),
    )


def write_synthetic_clip(
    request: GenerationRequest, directory: Path, stem: str, *, picture: bool = True
) -> tuple[GenerationResult, ClipFiles]:
    result = synthetic_result(request, picture=picture)
    return result, write_outputs(result, directory, stem)
