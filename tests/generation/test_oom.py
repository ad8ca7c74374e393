"""Out of GPU memory fails one batch with a clear message; other errors pass through."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from generation.oom import guard_out_of_memory, is_out_of_memory
from generation.types import GenerationError


def test_torch_s_out_of_memory_becomes_a_clear_failure_for_every_request() -> None:
    def runner(model: object, requests: Sequence[str]) -> list[str]:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    outcomes = guard_out_of_memory(runner)(None, ["a", "b"])
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, GenerationError)
        assert "ran out of memory on this batch of 2 clip(s)" in str(outcome)
        assert "Tried to allocate" not in str(outcome)


def test_a_per_request_out_of_memory_is_replaced_and_the_others_kept() -> None:
    def runner(model: object, requests: Sequence[str]) -> list[str | BaseException]:
        return ["fine", RuntimeError("MPS backend out of memory")]

    fine, failed = guard_out_of_memory(runner)(None, ["a", "b"])
    assert fine == "fine"
    assert isinstance(failed, GenerationError)


def test_other_errors_are_not_mistaken_for_memory() -> None:
    def runner(model: object, requests: Sequence[str]) -> list[str]:
        raise ValueError("bad shape")

    assert not is_out_of_memory(ValueError("bad shape"))
    with pytest.raises(ValueError, match="bad shape"):
        guard_out_of_memory(runner)(None, ["a"])
