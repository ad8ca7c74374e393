"""The entry points behind riff, blend, loop, extend, remix and variation: one batch, end to end.

Every mode is a choice of five things fed to the same loop: the text embedding, the start
noise, the init latent, a mask and the padding mode. The stages read top to bottom like a
diffusers pipeline's ``__call__`` (see :func:`_execute`), each in its own module:
:mod:`generation.components` (the model's parts, text conditioning, VAE),
:mod:`generation.planning` (a request turned into items), :mod:`generation.denoise` (the loop,
any number of items through the UNet as one batch, each with its own noise, so batching is a
throughput decision that never changes what a request sounds like) and
:mod:`generation.post` (everything after the VAE).

Reproducibility rules that the tests hold us to:
- noise comes from CPU generators seeded with the request's integer seed, so it does not
  depend on the device or on what else is in the batch;
- each item gets its own scheduler instance (schedulers keep history between steps);
- the VAE decodes one item at a time (batched decodes differ in the last bits);
- alpha 0 and 1 short-circuit the lerp/slerp, so the ends of a blend are plain riffs.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import torch

from generation.components import BatchComponents
from generation.denoise import BatchStepCallback, PreviewFn, denoise
from generation.params import SpectrogramParams
from generation.pipeline_cache import PipelineCache as PipelineCache  # engine.py reaches it here
from generation.planning import RequestPlan, plan_request, timed
from generation.post import Decoded, post_process
from generation.results import GenerationResult
from generation.schedule import canonical_scheduler, denoise_start, effective_strength
from generation.types import GenerationRequest, JobCancelled, Mode

if TYPE_CHECKING:
    from generation.models import LoadedModel


def batch_key(request: GenerationRequest) -> Hashable:
    """Requests with equal keys can share UNet calls: same latent shape, same timesteps, same
    padding mode. Prompts, seeds, guidance, masks and alpha may all differ within a batch."""
    strength = effective_strength(request)
    return (
        request.width,
        request.steps,
        canonical_scheduler(request.scheduler),
        strength is not None,
        denoise_start(request.steps, strength),
        request.mode is Mode.LOOP,
    )


Outcome = GenerationResult | BaseException
PostStage = Callable[[Decoded], "concurrent.futures.Future[GenerationResult]"]
"""Runs :func:`generation.post.post_process` somewhere else (a worker pool) and returns at once."""


def phase_device(model: LoadedModel, phase: str = "auto") -> str | None:
    """Where Griffin-Lim runs: ``auto`` on the model's GPU when it has one, else the numpy
    path; ``numpy`` always the numpy path; any other value is a torch device for it."""
    if phase == "numpy":
        return None
    if phase != "auto":
        return phase
    device = torch.device(model.device)
    return str(device) if device.type == "cuda" else None


def _execute(
    model: LoadedModel,
    requests: Sequence[GenerationRequest],
    on_step: BatchStepCallback | None,
    cancelled: Callable[[int], bool],
    params: SpectrogramParams,
    cache: PipelineCache,
    max_audio_seconds: float,
    phase: str = "auto",
) -> list[Decoded | BaseException]:
    """The model's part of the batch (text, UNet, VAE), with one outcome per request: a
    failure in one request's set-up (a missing seed image, unreadable audio) or a cancellation
    leaves its batch-mates running. What comes out is decoded images, for :mod:`generation.post`."""
    # 1. Check inputs: one batch shares its UNet calls, so it needs one batch key
    if not requests:
        return []
    keys = {batch_key(r) for r in requests}
    if len(keys) > 1:
        raise ValueError(f"requests in one batch need one batch_key, got {len(keys)}")

    # 2. Define the batch's components: the model, the geometry, the caches, the padding mode
    parts = BatchComponents(model, params, cache, max_audio_seconds)
    parts.circular = requests[0].mode is Mode.LOOP
    outcomes: list[Decoded | BaseException | None] = [None] * len(requests)
    plans: list[RequestPlan] = []
    passes, dropped, denoise_s = 0, set[int](), 0.0
    with torch.no_grad(), parts.padding():
        # 3. Plan each request: text conditioning, start noise, init latents and masks
        for index, request in enumerate(requests):
            try:
                plans.append(plan_request(parts, request, index))
            except Exception as error:
                outcomes[index] = error

        # 4. Denoising loop: every planned item of the batch, one UNet call per step
        items = [entry for plan in plans for entry in plan.items]
        if items:
            started = time.perf_counter()
            passes, dropped = denoise(parts, items, requests[0], on_step, cancelled)
            denoise_s = time.perf_counter() - started

        # 5. Decode each request's latents with the VAE, one item at a time
        for plan in plans:
            owner = plan.items[0].owner
            if owner in dropped:
                outcomes[owner] = JobCancelled("The job was cancelled.")
                continue
            try:
                with timed(plan.timings, "vae_decode"):
                    images = [parts.decode(e.latent) for e in plan.items]
                outcomes[owner] = Decoded(
                    request=plan.request,
                    images=images,
                    finish=plan.finish,
                    params=params,
                    timings=plan.timings,
                    notes=tuple(dict.fromkeys(plan.notes)),
                    model_id=str(model.model_id),
                    model_revision=model.revision,
                    latent=plan.items[-1].latent[0].float().cpu().numpy(),
                    phase_device=phase_device(model, phase),
                    extra={
                        "denoise": denoise_s,
                        "denoise_per_step": denoise_s / passes,
                        "unet_passes": float(passes),
                        "batch_size": float(len(items)),
                    },
                )
            except Exception as error:
                outcomes[owner] = error
    return [o if o is not None else RuntimeError("request was not run") for o in outcomes]


def _finish_here(outcome: Decoded | BaseException) -> Outcome:
    """Post-process on the calling thread (today's serial path); an error stays that request's."""
    if isinstance(outcome, BaseException):
        return outcome
    try:
        return post_process(outcome)
    except Exception as error:
        return error


def generate_batch(
    model: LoadedModel,
    requests: Sequence[GenerationRequest],
    *,
    on_step: BatchStepCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
    phase: str = "auto",
) -> list[GenerationResult]:
    """Generate every request, sharing UNet calls; results come back in request order.

    All requests must have the same :func:`batch_key` (``ValueError`` otherwise). A request's
    result does not depend on its batch-mates beyond float rounding in the UNet's batched
    matrix products (about 1e-6 on CPU fp32). ``on_step(step, total, preview)`` runs after
    every step; ``preview(i)`` renders request ``i``'s latent as a small PNG without the VAE.
    ``should_cancel`` is polled before every step; once true the call raises ``JobCancelled``.
    The first failing request's error is raised; :func:`run_batch` returns them instead.
    ``phase`` says where phase reconstruction runs (see :func:`phase_device`).
    """
    # 1.-5. The model's part: check, components, plan, denoise, decode (see _execute)
    decoded = _execute(
        model,
        requests,
        on_step,
        lambda _owner: should_cancel is not None and should_cancel(),
        params or SpectrogramParams(),
        cache or PipelineCache(),
        max_audio_seconds,
        phase,
    )
    # 6. Post-process here: audio, joins and picture; the first failure is raised
    results: list[GenerationResult] = []
    for outcome in map(_finish_here, decoded):
        if isinstance(outcome, BaseException):
            raise outcome
        results.append(outcome)
    return results


def run_batch(
    model: LoadedModel,
    requests: Sequence[GenerationRequest],
    on_steps: Sequence[Callable[[int, int, Callable[[], bytes | None] | None], None]],
    cancels: Sequence[Callable[[], bool]],
    *,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
    post: PostStage | None = None,
) -> list[Outcome | concurrent.futures.Future[GenerationResult]]:
    """The engine's batch-runner face: per-request progress and cancel checks, and one result
    or exception per request (a cancelled or broken request never sinks its batch-mates).

    With ``post``, everything after the VAE is handed to it and its futures come back in
    place of results, so the model's thread can start the next batch at once.
    """

    def on_step(step: int, total: int, preview: PreviewFn) -> None:
        for index, callback in enumerate(on_steps):
            if not cancels[index]():
                callback(step, total, partial(preview, index))

    # 1.-5. The model's part: check, components, plan, denoise, decode (see _execute)
    decoded = _execute(
        model,
        requests,
        on_step,
        lambda owner: cancels[owner](),
        params or SpectrogramParams(),
        cache or PipelineCache(),
        max_audio_seconds,
    )
    # 6. Post-process here, or hand it to ``post`` and return its futures
    if post is None:
        return [_finish_here(outcome) for outcome in decoded]
    return [post(o) if isinstance(o, Decoded) else o for o in decoded]


def generate(
    model: LoadedModel,
    request: GenerationRequest,
    *,
    on_step: BatchStepCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
) -> GenerationResult:
    """One request on its own: exactly ``generate_batch`` with a batch of one."""
    return generate_batch(
        model,
        [request],
        on_step=on_step,
        should_cancel=should_cancel,
        params=params,
        cache=cache,
        max_audio_seconds=max_audio_seconds,
    )[0]
