"""Running out of GPU memory is a batch's failure, not the worker's: say so, free, carry on."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from generation.types import GenerationError

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Callable[..., Sequence[object]])
"""A batch runner: the wrapped one keeps its exact type (results, errors or futures)."""

OUT_OF_MEMORY = (
    "The GPU ran out of memory on this batch of {n} clip(s). Try again in a moment, or ask "
    "for fewer steps or a shorter clip."
)


def is_out_of_memory(error: BaseException) -> bool:
    """torch's ``OutOfMemoryError`` (CUDA, MPS) or the plain ``RuntimeError`` older builds raise."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _free_cached_memory() -> None:
    torch = sys.modules.get("torch")  # only when the model already imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def guard_out_of_memory(runner: R) -> R:
    """Wrap a batch runner: an out-of-memory error fails that batch with a clear message
    (every request in it gets the message), frees the allocator's cache, and the worker goes
    on to the next batch."""

    def run(model: object, requests: Sequence[object], *rest: object) -> Sequence[object]:
        message = OUT_OF_MEMORY.format(n=len(requests))
        try:
            outcomes = runner(model, requests, *rest)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            log.warning("out of GPU memory on a batch of %d: %s", len(requests), error)
            _free_cached_memory()
            return [GenerationError(message)] * len(requests)
        if not any(isinstance(o, BaseException) and is_out_of_memory(o) for o in outcomes):
            return outcomes
        _free_cached_memory()
        return [
            GenerationError(message) if isinstance(o, BaseException) and is_out_of_memory(o) else o
            for o in outcomes
        ]

    return cast(R, run)
