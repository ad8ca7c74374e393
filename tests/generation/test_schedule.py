"""The torch-free seam: request validation and step counting load no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from generation.schedule import unet_passes
from generation.types import Endpoint, GenerationRequest, Mode

ROOT = Path(__file__).resolve().parents[2]


def test_importing_validation_does_not_import_torch() -> None:
    """Requests are validated where they enter (the bot, the web) without loading torch."""
    code = (
        "import sys, generation.validate, generation.schedule; "
        "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_unet_passes_counts_what_each_mode_runs() -> None:
    riff = GenerationRequest(mode=Mode.RIFF, start=Endpoint("a", 1, strength=0.75), steps=20)
    assert unet_passes(riff) == 15 + 1  # img2img from og_beat at 0.75; PNDM repeats one step
    assert unet_passes(GenerationRequest.from_dict({**riff.to_dict(), "scheduler": "ddim"})) == 15
    txt2img = GenerationRequest.from_dict({**riff.to_dict(), "seed_image": None})
    assert unet_passes(txt2img) == 20 + 1
    # Extend denoises its new columns from pure noise whatever the seed image's strength.
    extend = GenerationRequest.from_dict({**riff.to_dict(), "mode": "extend"})
    assert unet_passes(extend) == 20 + 1
