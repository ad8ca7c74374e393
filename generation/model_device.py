"""Where a loaded pipeline runs and whether it fits: device, dtype, memory and placement.

Kept apart from the loading sources so the bot's wiring can pick a device and a batch size
without reading any loader, and so each source refuses an oversized model the same way.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from generation import checkpoints
from generation.types import ModelError

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

log = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
# Room for activations on top of the weights (512x512, batch 2 with CFG, SDPA, fp16: ~1.5 GB).

# --- device and dtype -------------------------------------------------------------------


def resolve_device(
    device: str = "auto",
    *,
    cuda_available: bool | None = None,
    mps_available: bool | None = None,
) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit device must exist.

    The availability flags exist so the choice can be tested on a machine without a GPU.
    """
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    mps = _mps_available() if mps_available is None else mps_available
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    try:
        chosen = torch.device(name)
    except RuntimeError as exc:
        raise ModelError(f"Unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.") from exc
    if chosen.type == "cuda":
        if not cuda:
            raise ModelError(
                "CUDA was asked for but torch sees no GPU here; use --device cpu or auto."
            )
        if cuda_available is None and (chosen.index or 0) >= torch.cuda.device_count():
            raise ModelError(
                f"There is no {chosen}: torch sees {torch.cuda.device_count()} GPU(s)."
            )
    elif chosen.type == "mps":
        if not mps:
            raise ModelError("Apple MPS was asked for but is not available; use --device cpu.")
    elif chosen.type != "cpu":
        raise ModelError(f"Device {device!r} is not supported; use auto, cpu, cuda or mps.")
    return chosen


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on CUDA and fp32 elsewhere (Riffusion's choice; fp16 on MPS was unstable).

    bf16 is often faster on recent CPUs (1.6x for the SD1.5 UNet on this project's 2-core Zen 4
    development machine) but changes results, so it is opt-in.
    """
    name = dtype.strip().lower()
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise ModelError(f"Unknown dtype {dtype!r}; use auto, float32, float16 or bfloat16.")
    chosen = _DTYPES[name]
    if chosen == torch.float16 and device.type == "cpu":
        log.warning("float16 on CPU is slow and may be inaccurate; bfloat16 or float32 is better")
    return chosen


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


# --- memory -----------------------------------------------------------------------------

GIB = 1024**3
SD15_FP16_BYTES = 2.5 * GIB
"""An SD1.5 pipeline in fp16 (UNet 1.7 GB, text encoder, VAE) plus CUDA's own context."""
BATCH_ITEM_BYTES = 1.0 * GIB
"""Peak activations one more clip adds to a batch (its CFG pair through the UNet at 64x64)."""
CUDA_MAX_BATCH = 4


def default_max_batch(device: torch.device, *, total_memory: int | None = None) -> int:
    """The batch that pays where the model runs: 1 on CPU (measured no better: the UNet is
    compute-bound there), up to 4 on CUDA, fewer when the card's memory says so."""
    if device.type != "cuda":
        return 1
    if total_memory is None:
        total_memory = int(torch.cuda.get_device_properties(device).total_memory)
    fits = int((total_memory - SD15_FP16_BYTES) // BATCH_ITEM_BYTES)
    return max(1, min(CUDA_MAX_BATCH, fits))


def available_memory(device: torch.device) -> int | None:
    """Free bytes where the weights will live, or ``None`` when it cannot be known."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def check_fits(needed: int, available: int | None, device: torch.device) -> None:
    """Refuse up front when a model clearly cannot fit, instead of dying half-way through."""
    if available is None or needed <= available:
        return
    gib = 1024**3
    raise ModelError(
        f"The model needs about {needed / gib:.1f} GiB on {device} but only "
        f"{available / gib:.1f} GiB is free. Free memory, use --dtype float16 (or bfloat16 on "
        "CPU), or pick a machine with more memory."
    )


def estimate_bytes(weight_files: list[Path], dtype: torch.dtype) -> int:
    """Weights in the target dtype, assuming files stored in fp32 unless they say otherwise."""
    total = 0
    for path in weight_files:
        stored = checkpoints.stored_itemsize(path)
        total += path.stat().st_size * dtype.itemsize // stored
    return total


def pipeline_bytes(info: checkpoints.CheckpointInfo, dtype: torch.dtype) -> int:
    """What a single file's pipeline weighs in ``dtype``: its UNet, VAE and text encoder only.

    Full training checkpoints (riffusion-model-v1.ckpt is 14 GB) also carry EMA weights and
    optimizer state that are never loaded, so the file size would refuse machines that fit.
    """
    prefixes = (checkpoints.UNET_PREFIX, checkpoints.VAE_PREFIX, checkpoints.TEXT_PREFIX)
    count = sum(math.prod(shape) for key, shape in info.shapes.items() if key.startswith(prefixes))
    return count * dtype.itemsize


# --- placement --------------------------------------------------------------------------


def place(pipe: StableDiffusionPipeline, device: torch.device, *, compile: bool = False) -> None:
    """Move to the device, pin SDPA attention, and apply device-specific speed-ups."""
    try:
        pipe.to(device)
    except torch.OutOfMemoryError as exc:
        raise ModelError(
            f"The model does not fit in {device} memory. Use --dtype float16, close other GPU "
            "programs, or use a larger GPU."
        ) from exc
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise ModelError(f"The model does not fit in {device} memory ({brief(exc)}).") from exc
        raise
    use_sdpa(pipe)
    if device.type == "cuda":
        # channels_last made the SD1.5 UNet 2.5x *slower* on the development CPU: CUDA only.
        pipe.unet.to(memory_format=torch.channels_last)
    if compile:
        pipe.unet = torch.compile(pipe.unet)


def use_sdpa(pipe: StableDiffusionPipeline) -> None:
    """Make every attention layer use torch's fused scaled_dot_product_attention."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for module in (pipe.unet, pipe.vae):
        processors = module.attn_processors
        if any(not isinstance(p, AttnProcessor2_0) for p in processors.values()):
            module.set_attn_processor(AttnProcessor2_0())


def brief(exc: BaseException, limit: int = 300) -> str:
    """An exception's text on one line and cut short, to sit inside a one-sentence ModelError."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
