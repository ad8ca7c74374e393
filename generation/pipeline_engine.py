"""``pipeline_engine``: an ``Engine`` wired to the real pipeline, its post-processing pool,
the file writer and the out-of-memory guard.

Why apart from the engine: the engine knows nothing model-specific (everything is injected);
this is the one place that injects the real parts.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generation.engine import CancelCheck, Engine, StepCallback
from generation.types import ClipFiles, GenerationRequest

if TYPE_CHECKING:
    from generation.loudness import LoudnessPolicy
    from generation.models import LoadedModel
    from generation.params import SpectrogramParams
    from generation.results import GenerationResult
    from generation.workers import PostPool


def pipeline_engine(
    loader: Callable[[], LoadedModel],
    *,
    params: SpectrogramParams | None = None,
    max_audio_seconds: float = 60.0,
    max_prompt_chars: int = 400,
    loudness: LoudnessPolicy | None = None,
    post_workers: int | None = None,
    post_pool: PostPool | None = None,
    **engine_args: Any,
) -> Engine[LoadedModel, GenerationResult]:
    """An engine wired to the real pipeline and file writer.

    ``loader`` is typically ``lambda: load_model(settings.model, device=..., dtype=...)``; it
    runs in the worker. The worker also owns a ``PipelineCache`` (encoded seed images, prompt
    embeddings) next to the model, so a radio's og_beat is VAE-encoded once, not per clip.
    Everything after the VAE (phase reconstruction, pictures, MP3s, files) runs in a pool of
    ``post_workers`` processes (default: one per core; or the ``post_pool`` given, which the
    engine then closes with itself) while the model's thread starts the next batch;
    ``post_workers=0`` keeps it all on the model's thread (the serial path). The model runs
    at most two jobs per pool worker plus one batch ahead of post-processing
    (``max_in_post``). With the pool, files are written in it too and the engine waits for
    them off its delivery thread, so one clip's MP3 never holds up the next clip's delivery.
    ``engine_args`` go to ``Engine`` (limits, ``max_batch``, ``radio_every``...).
    """
    from generation import outputs, pipeline
    from generation.post import post_process
    from generation.schedule import unet_passes
    from generation.validate import validate_request

    cache = pipeline.PipelineCache()
    from generation.workers import PostPool as Pool

    pool = post_pool or (Pool(post_workers) if post_workers != 0 else None)
    post = None if pool is None else partial(pool.submit, post_process)

    def run(
        model: LoadedModel,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> Sequence[GenerationResult | BaseException | concurrent.futures.Future[GenerationResult]]:
        return pipeline.run_batch(
            model,
            requests,
            on_steps,
            cancels,
            params=params,
            cache=cache,
            max_audio_seconds=max_audio_seconds,
            post=post,
        )

    def write(
        result: GenerationResult, out_dir: Path, stem: str
    ) -> ClipFiles | concurrent.futures.Future[ClipFiles]:
        if pool is None:
            return outputs.write_outputs(result, out_dir, stem, params=params, loudness=loudness)
        return pool.submit(
            outputs.write_outputs, result, out_dir, stem, params=params, loudness=loudness
        )

    engine_args.setdefault("validate", partial(validate_request, max_prompt_chars=max_prompt_chars))
    engine_args.setdefault("batch_key", pipeline.batch_key)
    engine_args.setdefault("cost_steps", unet_passes)
    if pool is not None:
        engine_args.setdefault("on_closed", pool.close)
        # room for a whole batch beyond two jobs per worker: without it a batch of 4 waited
        # for the pool to drain, and the pool then idled while that batch ran (measured with
        # benchmarks/throughput.py --max-batch 4: 2.42 clips/s before, 2.95 after)
        engine_args.setdefault("max_in_post", 2 * pool.workers + engine_args.get("max_batch", 1))
    from generation.oom import guard_out_of_memory

    batch_runner = guard_out_of_memory(run)  # out of GPU memory fails one batch, clearly
    return Engine(loader=loader, batch_runner=batch_runner, writer=write, **engine_args)
