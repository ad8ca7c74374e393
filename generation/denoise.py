"""The denoising loop, its schedulers, the items a batch denoises, and step previews.

Each item gets its own scheduler instance (schedulers keep history between steps), so any
number of items share one UNet call per step and each still runs exactly as it would alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from PIL import Image

from generation.schedule import canonical_scheduler, denoise_start
from generation.types import GenerationRequest, InvalidRequest

if TYPE_CHECKING:
    from generation.components import BatchComponents

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
class DenoiseItem:
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


def preview_png(latent: torch.Tensor) -> bytes:
    rgb = torch.einsum("chw,cr->hwr", latent[0].float().cpu(), _PREVIEW_MAP)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def denoise(
    parts: BatchComponents,
    items: list[DenoiseItem],
    request: GenerationRequest,
    on_step: BatchStepCallback | None,
    cancelled: Callable[[int], bool],
) -> tuple[int, set[int]]:
    """Run the items from their start latents to the end, all through one UNet call per
    step. Returns the UNet passes of the batch and the owners that were cancelled on the way
    (their items leave the batch; everyone else carries on).

    Items may start at different timesteps (a transition's clips lerp the strength): each
    joins the batch at its own first timestep, so it runs exactly as it would alone.
    """
    # 1. Prepare timesteps and each item's start latent, on a scheduler of its own
    steps = request.steps
    schedule = torch.zeros(0)
    for entry in items:
        scheduler = make_scheduler(request.scheduler, parts.pipe.scheduler.config)
        scheduler.set_timesteps(steps, device=parts.device)
        schedule = scheduler.timesteps
        entry.begin = denoise_start(steps, entry.strength) * scheduler.order
        if entry.begin >= len(schedule):
            raise InvalidRequest("Steps x strength is below one: there is nothing to denoise.")
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(entry.begin)
        entry.scheduler = scheduler
        if entry.init is None:
            entry.latent = entry.noise * scheduler.init_noise_sigma
        else:
            first_t = schedule[entry.begin : entry.begin + 1]
            entry.latent = scheduler.add_noise(entry.init, entry.noise, first_t)
    first = min(entry.begin for entry in items)
    timesteps = schedule[first:]
    total = len(timesteps)

    def preview(index: int = 0) -> bytes:
        chosen = next((e for e in items if e.owner == index), items[0])
        return preview_png(chosen.latent)

    # 2. Denoising loop
    dropped: set[int] = set()
    active = list(items)
    unet = parts.pipe.unet
    for number, t in enumerate(timesteps):
        owners = {e.owner for e in active}
        newly = {owner for owner in owners if cancelled(owner)}
        if newly:
            dropped |= newly
            active = [e for e in active if e.owner not in newly]
        if not active:
            break
        running = [e for e in active if e.begin <= first + number]
        # one UNet call per prompt length (chunks): padding a request's embedding to a
        # batch-mate's length would change its result
        predictions: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for length in sorted({e.cond.shape[1] for e in running}):
            group = [i for i, e in enumerate(running) if e.cond.shape[1] == length]
            members = [running[i] for i in group]
            embeddings = torch.cat([e.uncond for e in members] + [e.cond for e in members])
            inputs = [e.scheduler.scale_model_input(e.latent, t) for e in members]
            batch = torch.cat(inputs + inputs)
            predicted = unet(batch, t, encoder_hidden_states=embeddings).sample
            eps_uncond, eps_cond = predicted.chunk(2)
            for row, index in enumerate(group):
                predictions[index] = (eps_uncond[row : row + 1], eps_cond[row : row + 1])
        following = timesteps[number + 1 : number + 2]
        for index, entry in enumerate(running):
            u, c = predictions[index]
            eps = u + entry.guidance * (c - u)
            entry.latent = entry.scheduler.step(eps, t, entry.latent).prev_sample
            if entry.mask is not None and entry.init is not None:
                # Pin the kept region to the init latent at the noise level of the next
                # step (diffusers' legacy inpainting; Riffusion used the current one),
                # and to the clean latent after the last step, so kept means kept.
                pinned = (
                    entry.scheduler.add_noise(entry.init, entry.noise, following)
                    if len(following)
                    else entry.init
                )
                entry.latent = entry.mask * pinned + (1 - entry.mask) * entry.latent
        if on_step is not None:
            on_step(number + 1, total, preview)
    return total, dropped
