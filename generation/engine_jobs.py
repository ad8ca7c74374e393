"""The engine's job record, its types and messages, and the helpers that carry progress.

Why apart from the engine: these are the words the engine, its faces and its users (the fleet,
the benchmarks, stand-in runners in tests) share; none of them needs the worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    Priority,
    Progress,
    ProgressCallback,
)

log = logging.getLogger(__name__)

M = TypeVar("M")
R = TypeVar("R")

Preview = Callable[[], bytes | None]
"""Renders the current state of one request as PNG bytes; called only when progress goes out."""
StepCallback = Callable[[int, int, Preview | None], None]
"""``(steps_done, total_steps, preview)``, called by the runner after each denoising step."""
CancelCheck = Callable[[], bool]
"""Returns ``True`` once the request should stop; the runner then yields ``JobCancelled``."""
BatchRunner = Callable[
    [M, Sequence[GenerationRequest], Sequence[StepCallback], Sequence[CancelCheck]],
    Sequence["R | BaseException | concurrent.futures.Future[R]"],
]
"""Runs requests as one batch; one result, exception or future result per request, in order."""
Writer = Callable[[R, Path, str], "ClipFiles | concurrent.futures.Future[ClipFiles]"]
"""Writes one result's files as ``out_dir/stem.*``, or starts writing them elsewhere (a
process pool) and returns the future; the engine settles jobs in order either way."""

GENERIC_FAILURE = "Something went wrong while generating this clip. It has been logged; try again."
LOAD_FAILURE = "The model could not be loaded. It has been logged; try again later."
CANCELLED = "The job was cancelled."
SHUTTING_DOWN = "The generator is shutting down; this job was not started."


def nominal_steps(request: GenerationRequest) -> int:
    """The default cost: a batch runner that runs every step it is asked for.
    :func:`pipeline_engine` passes the pipeline's own count, ``schedule.unet_passes``."""
    return request.steps


class EngineClosed(GenerationError):
    """The engine no longer takes jobs (it is shutting down)."""


def unbatched(request: GenerationRequest) -> Hashable:
    """Default batch key: every request alone (batching needs the pipeline's shape rules)."""
    return object()


def file_stem(job_id: str) -> str:
    """A job id made safe as a file name (ids come from users' servers and the CLI)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", job_id).strip(".") or "clip"


def invoke_progress(callback: ProgressCallback, progress: Progress) -> None:
    """Run a consumer's callback; a broken callback must not break the job."""
    try:
        callback(progress)
    except Exception:
        log.exception("progress callback for job %s failed", progress.job_id)


def hop_progress(
    loop: asyncio.AbstractEventLoop, callback: ProgressCallback, progress: Progress
) -> None:
    """Deliver progress on the caller's loop, so a bot's callback may touch discord.py objects."""
    # A closed loop raises RuntimeError: the caller is gone and nobody is listening any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(invoke_progress, callback, progress)


@dataclass(eq=False)
class EngineJob:
    """One queued or running request as the engine tracks it (identity, not value, equality:
    the fair queue holds it as a payload)."""

    job_id: str
    owner: str
    priority: Priority
    request: GenerationRequest
    out_dir: Path | None
    future: concurrent.futures.Future[Any]
    emit: Callable[[Progress], None] | None
    submitted_at: float
    cancel_event: threading.Event
    phase: str = "queued"  # queued | running | encoding
    started_at: float | None = None
    step: int = 0
    total: int = 0
    last_emit: float | None = None
    last_position: int | None = None
    generate_s: float = 0.0
    batch_size: int = 1
