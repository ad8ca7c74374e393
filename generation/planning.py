"""Requests turned into denoising items: text conditioning, start noise, init latents, masks.

Every mode is a choice of five things fed to the same loop: the text embedding (a lerp of
two prompts' embeddings), the start noise (a slerp of two seeds' noises), the init latent
(nothing, a seed image, a shifted parent clip, a window of an uploaded clip), a mask (which
latent pixels are pinned to the init latent) and the padding mode (circular in time for loops).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from generation.components import BatchComponents
from generation.denoise import DenoiseItem
from generation.image_joins import fit_width
from generation.latents import seed_noise, slerp
from generation.masks import keep_fraction, load_mask
from generation.post import Finish
from generation.schedule import LATENT_FACTOR, effective_strength, mix
from generation.seeds import SEED_IMAGE_NAMES
from generation.types import GenerationRequest, InvalidRequest, Mode

# Riffusion's seed images are 2 bars of 4/4 at ~93.75 BPM in 512 columns: one beat is 64
# columns, 8 latent columns. Extend shifts by whole beats so a joined track keeps its tempo.
BEAT_LATENT_COLUMNS = 8
REMIX_OVERLAP_FRACTION = 1 / 8


@dataclass
class RequestPlan:
    """A request turned into items, plus how to turn their decoded images into a result."""

    request: GenerationRequest
    items: list[DenoiseItem]
    finish: Finish
    timings: dict[str, float]
    notes: list[str]


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def plan_request(parts: BatchComponents, request: GenerationRequest, owner: int) -> RequestPlan:
    """``request`` as the items the loop denoises (``owner`` is its index in the batch), plus
    the recipe that turns their decoded images into its result."""
    # 1. Define call parameters: the latent shape and the common prompt length
    timings: dict[str, float] = {}
    notes: list[str] = []
    end = request.end or request.start
    shape = parts.latent_shape(request.width)

    prompts = [request.start.prompt, end.prompt, request.negative_prompt]
    chunks = parts.common_chunks(prompts)

    def at(alpha: float) -> tuple[torch.Tensor, float, float | None]:
        """Text conditioning, guidance and strength at ``alpha`` from start to end."""
        cond = parts.embed(request.start.prompt, notes, chunks)
        if request.end is not None and alpha > 0.0:
            cond_end = parts.embed(request.end.prompt, notes, chunks)
            cond = cond_end if alpha >= 1.0 else torch.lerp(cond, cond_end, alpha)
        guidance = mix(request.start.guidance, end.guidance, alpha)
        return cond, guidance, effective_strength(request.with_alpha(alpha))

    def noise_at(alpha: float, count: int = 1) -> list[torch.Tensor]:
        start = seed_noise(request.start.seed, shape, count)
        if request.end is None or alpha <= 0.0:
            return start
        finish = seed_noise(request.end.seed, shape, count)
        return [slerp(alpha, a, b) for a, b in zip(start, finish, strict=True)]

    # 2. Encode the prompts at each alpha (a transition has one alpha per clip), and the negative
    alpha = request.alpha if request.end is not None else 0.0
    alphas = transition_alphas(request.clips) if request.clips > 1 else [alpha]
    with timed(timings, "text"):
        points = [at(a) for a in alphas]
        uncond = parts.embed(request.negative_prompt, notes, chunks)

    def item(
        noise: torch.Tensor,
        init: torch.Tensor | None,
        mask: torch.Tensor | None,
        point: int = 0,
    ) -> DenoiseItem:
        cond, guidance, strength = points[point]
        return DenoiseItem(
            owner=owner,
            cond=cond,
            uncond=uncond,
            guidance=guidance,
            noise=noise.to(parts.device, parts.dtype),
            init=init,
            mask=None if mask is None else mask.to(parts.device, parts.dtype),
            strength=strength,
        )

    # 3. Prepare the mask of latent pixels pinned to the init latent
    user_mask = None
    if request.mask is not None:
        user_mask = keep_fraction(
            load_mask(request.mask, request.width, parts.height), shape[2], shape[3]
        )

    # 4. Prepare the init latent: extend and remix have their own; else a seed image, or none
    with timed(timings, "vae_encode"):
        if request.mode is Mode.EXTEND:
            return _plan_extend(parts, request, item, noise_at(alpha)[0], timings, notes)
        if request.mode is Mode.REMIX:
            return _plan_remix(
                parts, request, item, partial(noise_at, alpha), user_mask, timings, notes
            )
        init = None
        if request.seed_image is not None:
            spec, width = request.seed_image, request.width

            def fitted() -> Image.Image:
                seed = parts.load_seed_image(spec, width)
                return fit_width(seed, width, parts.height, from_right=False)

            if spec in SEED_IMAGE_NAMES:
                init = parts.encode(*parts.cache.seed_image((spec, width, parts.height), fitted))
            else:
                init = parts.encode(fitted())
    # 5. Prepare the items: each clip's start noise with its conditioning and init latent
    periodic = request.mode is Mode.LOOP
    mask = user_mask if init is not None else None
    items = [item(noise_at(a)[0], init, mask, i) for i, a in enumerate(alphas)]

    finish = Finish("transition") if len(alphas) > 1 else Finish("single", periodic=periodic)
    if len(alphas) > 1:
        notes.append(f"A transition of {len(alphas)} clips from alpha 0 to 1.")
    return RequestPlan(request, items, finish, timings, notes)


def _plan_extend(
    parts: BatchComponents,
    request: GenerationRequest,
    item: Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], DenoiseItem],
    noise: torch.Tensor,
    timings: dict[str, float],
    notes: list[str],
) -> RequestPlan:
    """Outpaint to the right: the parent's last columns, shifted left, are pinned by a mask.

    The shift is a whole number of beats, so the new clip's grid lines up with the
    parent's; the new columns are generated from pure noise next to the pinned ones, so
    they continue what was playing rather than starting over.
    """
    if request.seed_image is None:
        raise InvalidRequest("Extend needs the clip to continue (its raw spectrogram PNG).")
    from generation.codec import open_image

    if not Path(request.seed_image).is_file():
        raise InvalidRequest(f"The clip to extend, '{request.seed_image}', was not found.")
    parent = open_image(request.seed_image).convert("RGB")
    if parent.height != parts.height:
        parent = parent.resize((parent.width, parts.height), Image.Resampling.LANCZOS)
    context = fit_width(parent, request.width, parts.height, from_right=True)
    context_latent = parts.encode(context)
    columns = context_latent.shape[-1]
    keep = round(request.extend_keep * columns / BEAT_LATENT_COLUMNS) * BEAT_LATENT_COLUMNS
    keep = min(max(keep, BEAT_LATENT_COLUMNS), columns - BEAT_LATENT_COLUMNS)
    init = torch.zeros_like(context_latent)
    init[..., :keep] = context_latent[..., columns - keep :]
    mask = torch.zeros((1, 1, *init.shape[-2:]), dtype=torch.float32)
    mask[..., :keep] = 1.0
    kept_px = keep * LATENT_FACTOR

    finish = Finish("extend", parent=parent, kept_px=kept_px)
    return RequestPlan(request, [item(noise, init, mask)], finish, timings, notes)


def _plan_remix(
    parts: BatchComponents,
    request: GenerationRequest,
    item: Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], DenoiseItem],
    noise_for: Callable[[int], list[torch.Tensor]],
    user_mask: torch.Tensor | None,
    timings: dict[str, float],
    notes: list[str],
) -> RequestPlan:
    """Cut the upload's spectrogram into overlapping windows and img2img each of them."""
    if request.seed_image is None:
        raise InvalidRequest("Remix needs an uploaded clip to work from.")
    source = parts.load_source_image(request.seed_image)
    if source.height != parts.height:
        source = source.resize((source.width, parts.height), Image.Resampling.LANCZOS)
    width = request.width
    overlap = max(LATENT_FACTOR, round(width * REMIX_OVERLAP_FRACTION))
    stride = width - overlap
    original_width = source.width
    count = max(1, math.ceil(max(original_width - width, 0) / stride) + 1)
    padded_width = width + (count - 1) * stride
    padded = Image.new("RGB", (padded_width, parts.height), (255, 255, 255))  # silence
    padded.paste(source, (0, 0))
    starts = [i * stride for i in range(count)]
    inits = [parts.encode(padded.crop((s, 0, s + width, parts.height))) for s in starts]
    noises = noise_for(count)
    items = [item(n, z, user_mask) for n, z in zip(noises, inits, strict=True)]
    finish = Finish("remix", stride=stride, overlap=overlap, original_width=original_width)
    if count > 1:
        notes.append(f"Remixed in {count} overlapping windows of {width} columns.")
    return RequestPlan(request, items, finish, timings, notes)


def transition_alphas(clips: int) -> list[float]:
    """Evenly spaced points from 0 to 1, both ends included, so the track starts exactly on
    the first endpoint's clip and ends exactly on the second's."""
    return [index / (clips - 1) for index in range(clips)]
