"""The denoising loop's parts: schedulers, the items a batch denoises, and step previews.

Each item gets its own scheduler instance (schedulers keep history between steps), so any
number of items share one UNet call per step and each still runs exactly as it would alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from PIL import Image

from generation.schedule import canonical_scheduler

# A fixed linear map from SD latents to RGB (a least-squares fit published by the community
# for SD1.x); good enough for a progress thumbnail and costs no VAE call.
_PREVIEW_MAP = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)


class PreviewFn(Protocol):
    """Renders the current latent of the batch's ``index``-th request as a small PNG."""

    def __call__(self, index: int = 0) -> bytes: ...


BatchStepCallback = Callable[[int, int, PreviewFn], None]
"""``(steps_done, total_steps, preview)`` once per step of the whole batch; the engine fans it
out to each request's ``engine.StepCallback``."""


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler of the named kind, with the checkpoint's noise schedule."""
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
    )

    kind = canonical_scheduler(name)
    if kind == "pndm":
        return PNDMScheduler.from_config(base_config, skip_prk_steps=True)
    if kind == "dpm++":
        return DPMSolverMultistepScheduler.from_config(
            base_config, algorithm_type="dpmsolver++", solver_order=2
        )
    if kind == "ddim":
        return DDIMScheduler.from_config(base_config)
    return EulerDiscreteScheduler.from_config(base_config)


@dataclass
class _Item:
    """One latent to denoise: a whole riff, or one window of a remix."""

    owner: int
    cond: torch.Tensor
    uncond: torch.Tensor
    guidance: float
    noise: torch.Tensor
    init: torch.Tensor | None
    mask: torch.Tensor | None
    strength: float | None
    latent: torch.Tensor = field(init=False)
    scheduler: Any = field(init=False)
    begin: int = field(init=False)  # index of its first timestep in the scheduler's list


def _preview_png(latent: torch.Tensor) -> bytes:
    rgb = torch.einsum("chw,cr->hwr", latent[0].float().cpu(), _PREVIEW_MAP)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()
