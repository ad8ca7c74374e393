"""Where a model runs and how big a batch pays there, chosen without a GPU on the machine."""

from __future__ import annotations

import pytest
import torch

from generation.model_device import default_max_batch, resolve_device, resolve_dtype
from generation.types import ModelError


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_device_prefers_cuda_then_mps(cuda: bool, mps: bool, expected: str) -> None:
    assert resolve_device("auto", cuda_available=cuda, mps_available=mps).type == expected


def test_explicit_device_must_exist() -> None:
    with pytest.raises(ModelError, match="no GPU"):
        resolve_device("cuda", cuda_available=False, mps_available=False)
    with pytest.raises(ModelError, match="MPS"):
        resolve_device("mps", cuda_available=False, mps_available=False)
    with pytest.raises(ModelError, match="Unknown device"):
        resolve_device("toaster")
    assert resolve_device("cuda:1", cuda_available=True) == torch.device("cuda", 1)
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_dtype_choice() -> None:
    cuda, cpu, mps = torch.device("cuda"), torch.device("cpu"), torch.device("mps")
    assert resolve_dtype("auto", cuda) == torch.float16
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("auto", mps) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    assert resolve_dtype("fp16", cuda) == torch.float16
    assert resolve_dtype("float32", cuda) == torch.float32
    with pytest.raises(ModelError, match="Unknown dtype"):
        resolve_dtype("int8", cpu)


def test_default_max_batch_is_chosen_per_device_and_memory() -> None:
    gib = 1024**3
    assert default_max_batch(torch.device("cpu")) == 1
    assert default_max_batch(torch.device("cuda"), total_memory=80 * gib) == 4
    assert default_max_batch(torch.device("cuda"), total_memory=6 * gib) == 3
    assert default_max_batch(torch.device("cuda"), total_memory=3 * gib) == 1
