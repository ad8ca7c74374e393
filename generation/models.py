"""Load a Stable Diffusion v1.x pipeline from wherever the user keeps it, or say why not.

A model comes from one of four sources, and each ends in the same folder-loading code where it
can, so the tiny test model exercises exactly what real users run:

* ``tiny``: the random test model, built once into a cache folder, then loaded as a folder;
* a local diffusers folder in the layout of ``riffusion/riffusion-model-v1``;
* a hub id: looked up in the local Hugging Face cache first (a cached snapshot is a folder), and
  downloaded only when online; offline is detected quickly instead of hanging on retries;
* a single ``.safetensors``/``.ckpt`` file in the original LDM layout, loaded fully offline against
  a config-only SD1.5 directory shipped in this package (diffusers would otherwise fetch configs
  from the hub), with pickles read in ``weights_only`` mode so a checkpoint can never run code.

Every failure becomes a :class:`ModelError` whose message says what to do next.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from generation import checkpoints
from generation.clip_tokenizer import write_tokenizer_files
from generation.tiny import NOISE_NOT_MUSIC, is_tiny_dir, make_tiny, sd15_config_dir
from generation.types import ModelError

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

log = logging.getLogger(__name__)

TINY = "tiny"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
COMPONENTS = ("unet", "vae", "text_encoder")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_NAMES = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "text_encoder": ("model.safetensors", "pytorch_model.bin"),
}
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
_ACTIVATION_HEADROOM_BYTES = 2 * 1024**3
_HINT_ALTERNATIVES = (
    "Pass a local diffusers folder (e.g. a downloaded copy of riffusion/riffusion-model-v1), "
    "a single .safetensors/.ckpt file, or `tiny` for the random test model "
    "(`riffbot model make-tiny DIR`; it makes noise, not music)."
)


@dataclass
class LoadedModel:
    """A ready pipeline plus what produced it (for result metadata and reproducibility)."""

    pipe: StableDiffusionPipeline
    model_id: str
    revision: str | None
    device: torch.device
    dtype: torch.dtype
    is_tiny: bool


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


# --- the public entry point -------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "riffbot"


def load_model(
    source: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    revision: str | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
    compile: bool = False,
    progress: bool = True,
    tiny_dir: Path | None = None,
    config_dir: Path | None = None,
) -> LoadedModel:
    """Load ``source`` (``tiny``, a folder, a single file or a hub id) onto a device.

    ``cache_dir`` is where hub downloads go (a Hugging Face cache; default: the user's) and where
    Riffbot keeps the tiny model and generated config folders (default ``~/.cache/riffbot``).
    ``tiny_dir`` overrides where ``tiny`` is built and loaded from. ``config_dir`` overrides the
    diffusers config used for single files (normally the one embedded by
    :func:`generation.checkpoints.write_single_file`, else the shipped SD1.5 one).
    ``progress=False`` silences loading bars and the pipeline's own per-step bar.
    """
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    text = source.strip()
    if not text:
        raise ModelError("No model given. " + _HINT_ALTERNATIVES)

    with _progress_bars(progress):
        if text.lower() == TINY:
            folder = Path(tiny_dir) if tiny_dir is not None else cache_root / "tiny"
            if not (folder / "model_index.json").exists():
                log.info("Building the tiny test model in %s", folder)
                try:
                    make_tiny(folder)
                except OSError:  # another process may have finished the same build first
                    if not (folder / "model_index.json").exists():
                        raise
            pipe = _load_folder(folder, target, torch_dtype)
            model_id, rev, tiny = TINY, None, True
        else:
            path = Path(text).expanduser()
            if path.is_dir():
                pipe = _load_folder(path, target, torch_dtype)
                model_id, rev, tiny = str(path.resolve()), None, is_tiny_dir(path)
            elif path.is_file():
                if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                    raise ModelError(
                        f"{path} is a file but not a .safetensors or .ckpt checkpoint."
                    )
                pipe, tiny = _load_single_file(path, target, torch_dtype, cache_root, config_dir)
                model_id, rev = str(path.resolve()), None
            elif _looks_like_path(text) or not _HUB_ID.match(text):
                raise ModelError(f"There is no model at {text!r}. " + _HINT_ALTERNATIVES)
            else:
                hub_cache = Path(cache_dir) if cache_dir is not None else None
                folder, rev = _hub_folder(text, revision, hub_cache, allow_download)
                pipe = _load_folder(folder, target, torch_dtype)
                model_id, tiny = text, False

    place(pipe, target, compile=compile)
    if not progress:
        pipe.set_progress_bar_config(disable=True)
    if tiny:
        log.warning("Loaded the tiny model. %s", NOISE_NOT_MUSIC)
    return LoadedModel(
        pipe=pipe, model_id=model_id, revision=rev, device=target, dtype=torch_dtype, is_tiny=tiny
    )


def check_source(
    source: str, *, revision: str | None = None, cache_dir: Path | None = None
) -> None:
    """A cheap look at ``source`` before anything depends on it (``riffbot run`` checks it
    before logging in): a folder has every SD1.x piece, a file is a checkpoint, a hub id is
    cached or can be downloaded (the hub answers). Raises ``ModelError`` saying what is
    wrong. Nothing is loaded or downloaded; the full load may stay lazy.
    """
    text = source.strip()
    if not text:
        raise ModelError("No model given. " + _HINT_ALTERNATIVES)
    if text.lower() == TINY:
        return
    path = Path(text).expanduser()
    if path.is_dir():
        check_folder(path)
    elif path.is_file():
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise ModelError(f"{path} is a file but not a .safetensors or .ckpt checkpoint.")
        if path.stat().st_size == 0:
            raise ModelError(f"{path} is empty; download the checkpoint again.")
    elif _looks_like_path(text) or not _HUB_ID.match(text):
        raise ModelError(f"There is no model at {text!r}. " + _HINT_ALTERNATIVES)
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(
            text, "model_index.json", cache_dir=cache_dir, revision=revision
        )
        if not isinstance(cached, str) and (hub_offline_by_env() or not hub_reachable()):
            raise ModelError(
                f"Cannot download {text}: this machine is offline (HF_HUB_OFFLINE is set or "
                "huggingface.co is unreachable) and it is not in the local cache. "
                + _HINT_ALTERNATIVES
            )


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~", "\\"))
        or text.lower().endswith(SINGLE_FILE_SUFFIXES)
        or text.count("/") > 1
        or (len(text) > 1 and text[1] == ":")
    )


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Silence diffusers' and transformers' loading bars for one call ("Loading pipeline
    components", "Loading weights": noise next to our own bar), and the hub's download bars
    too unless ``enabled`` (a first download is worth watching); then restore their state."""
    from diffusers.utils import logging as dlogging
    from huggingface_hub.utils.tqdm import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from transformers.utils import logging as tlogging

    was_diffusers = dlogging.is_progress_bar_enabled()
    was_transformers = tlogging.is_progress_bar_enabled()
    was_hub_disabled = are_progress_bars_disabled()
    dlogging.disable_progress_bar()
    tlogging.disable_progress_bar()
    if not enabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if was_diffusers:
            dlogging.enable_progress_bar()
        if was_transformers:
            tlogging.enable_progress_bar()
        if not was_hub_disabled:
            enable_progress_bars()


# --- folders ----------------------------------------------------------------------------


def _component_weights(folder: Path, component: str) -> Path | None:
    for name in _WEIGHT_NAMES[component]:
        candidate = folder / component / name
        if candidate.is_file():
            return candidate
    return None


def check_folder(folder: Path) -> list[Path]:
    """Check a diffusers folder has every SD1.x piece; return its weight files.

    Checking first turns diffusers' deep tracebacks into one sentence naming the missing piece.
    """
    index = folder / "model_index.json"
    if not index.is_file():
        raise ModelError(
            f"{folder} is not a diffusers model folder (no model_index.json). " + _HINT_ALTERNATIVES
        )
    try:
        meta = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{index} is unreadable or not JSON ({exc}); download it again.") from exc
    cls = str(meta.get("_class_name", ""))
    if "XL" in cls or "StableDiffusion3" in cls or "Flux" in cls:
        raise ModelError(f"{folder} holds a {cls}; Riffbot needs a Stable Diffusion v1.x model.")
    weights: list[Path] = []
    missing: list[str] = []
    for component in COMPONENTS:
        if not (folder / component / "config.json").is_file():
            missing.append(f"{component}/config.json")
        found = _component_weights(folder, component)
        if found is None:
            missing.append(f"{component}/{_WEIGHT_NAMES[component][0]}")
        else:
            weights.append(found)
    tokenizer = folder / "tokenizer"
    has_tokenizer = (tokenizer / "tokenizer.json").is_file() or (
        (tokenizer / "vocab.json").is_file() and (tokenizer / "merges.txt").is_file()
    )
    if not has_tokenizer:
        missing.append("tokenizer/vocab.json + merges.txt")
    if not (folder / "scheduler" / "scheduler_config.json").is_file():
        missing.append("scheduler/scheduler_config.json")
    if missing:
        raise ModelError(
            f"The model folder {folder} is incomplete; missing: {', '.join(missing)}. "
            "Download it again or point to a complete copy."
        )
    return weights


def _load_folder(folder: Path, device: torch.device, dtype: torch.dtype) -> StableDiffusionPipeline:
    weights = check_folder(folder)
    needed = estimate_bytes(weights, dtype)
    check_fits(needed, available_memory(torch.device("cpu")), torch.device("cpu"))
    if device.type != "cpu":
        check_fits(needed + _ACTIVATION_HEADROOM_BYTES, available_memory(device), device)
    from diffusers import StableDiffusionPipeline

    def load() -> StableDiffusionPipeline:
        pipe: StableDiffusionPipeline = StableDiffusionPipeline.from_pretrained(
            str(folder),
            dtype=dtype,
            local_files_only=True,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        return pipe

    pipe = _guarded(load, f"the model folder {folder}")
    for component in COMPONENTS:
        stored = checkpoints.weight_keys(_component_weights(folder, component) or folder)
        expected = {_normal_key(k) for k in getattr(pipe, component).state_dict()}
        _refuse_missing(component, expected - {_normal_key(k) for k in stored}, folder)
    return pipe


# diffusers before 0.14 (riffusion-model-v1 was saved with 0.9) named the VAE's attention
# weights query/key/value/proj_attn; diffusers renames them on load, so the check must too.
_LEGACY_ATTENTION = re.compile(r"\.(query|key|value|proj_attn)\.(weight|bias)$")
_LEGACY_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _normal_key(key: str) -> str:
    # transformers 5 saves CLIPTextModel without the legacy ``text_model.`` prefix.
    key = key.removeprefix("text_model.")
    return _LEGACY_ATTENTION.sub(lambda m: f".{_LEGACY_NAMES[m[1]]}.{m[2]}", key)


def _refuse_missing(component: str, missing: set[str] | int, where: Path) -> None:
    """diffusers without ``accelerate`` silently random-initialises absent weights; refuse."""
    count = missing if isinstance(missing, int) else len(missing)
    if count <= 0:
        return
    sample = "" if isinstance(missing, int) else f" (e.g. {sorted(missing)[0]})"
    raise ModelError(
        f"{where} lacks {count} {component} weight(s){sample}: it is corrupt, from a different "
        "architecture, or converted wrongly. Download or convert it again."
    )


def _guarded(load: Callable[[], StableDiffusionPipeline], what: str) -> StableDiffusionPipeline:
    """Run a diffusers load and translate its failures into one actionable sentence."""
    try:
        return load()
    except ModelError:
        raise
    except torch.OutOfMemoryError as exc:
        raise ModelError(
            f"Ran out of memory while loading {what}. Use --dtype float16/bfloat16 or free memory."
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"Could not load {what}: it looks corrupt, truncated or not a Stable Diffusion v1.x "
            f"model ({type(exc).__name__}: {_short(exc)}). Download or convert it again."
        ) from exc


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- hub --------------------------------------------------------------------------------


def hub_offline_by_env() -> bool:
    """True when the user told Hugging Face tools to stay offline (read now, not at import)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the hub endpoint, DNS included, bounded by ``timeout``.

    ``socket.create_connection``'s timeout does not cover name resolution, which is what hangs
    on a machine without network, so the attempt runs in a daemon thread we stop waiting for.
    """
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="riffbot-hub-probe")
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _hub_folder(
    repo_id: str, revision: str | None, hub_cache: Path | None, allow_download: bool
) -> tuple[Path, str | None]:
    """A local snapshot folder of ``repo_id``: from the cache, else downloaded when possible.

    ``hub_cache`` is a Hugging Face cache directory (``None``: the user's default one), so
    models downloaded by other tools are found and reused. An interrupted download leaves the
    small ``model_index.json`` without all the weights; such a snapshot is completed by
    downloading again (the hub resumes), not handed on to fail at every later start.
    """
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo_id, "model_index.json", cache_dir=hub_cache, revision=revision
    )
    if isinstance(found, str):
        snapshot = Path(found).parent
        if _is_complete(snapshot) or not allow_download or hub_offline_by_env():
            return snapshot, snapshot.name  # if incomplete, the folder check names what is missing
        if hub_reachable():
            log.info("The cached copy of %s is incomplete; resuming its download", repo_id)
            return _download(repo_id, revision, hub_cache)
        return snapshot, snapshot.name
    if not allow_download:
        raise ModelError(
            f"{repo_id} is not in the local cache and downloading is turned off. "
            + _HINT_ALTERNATIVES
        )
    if hub_offline_by_env() or not hub_reachable():
        raise ModelError(
            f"Cannot download {repo_id}: this machine is offline (HF_HUB_OFFLINE is set or "
            "huggingface.co is unreachable) and it is not in the local cache. " + _HINT_ALTERNATIVES
        )
    return _download(repo_id, revision, hub_cache)


def _is_complete(folder: Path) -> bool:
    try:
        check_folder(folder)
    except ModelError:
        return False
    return True


def _download(
    repo_id: str, revision: str | None, hub_cache: Path | None
) -> tuple[Path, str | None]:
    """Fetch only what a StableDiffusionPipeline needs (the Riffusion repo also holds a 14 GB
    .ckpt, a safety checker and a traced UNet we never use)."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        files = set(HfApi().list_repo_files(repo_id, revision=revision))
        patterns = [
            "model_index.json",
            "scheduler/*",
            "tokenizer/*",
            *(f"{c}/config.json" for c in COMPONENTS),
        ]
        for component in COMPONENTS:
            names = [n for n in _WEIGHT_NAMES[component] if f"{component}/{n}" in files]
            if not names:
                raise ModelError(
                    f"{repo_id} has no {component} weights in diffusers layout; "
                    "it is not a Stable Diffusion v1.x diffusers repository."
                )
            patterns.append(f"{component}/{names[0]}")
        log.info("Downloading %s (%s)", repo_id, revision or "main")
        path = snapshot_download(
            repo_id, revision=revision, cache_dir=hub_cache, allow_patterns=patterns
        )
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"Downloading {repo_id} failed ({type(exc).__name__}: {_short(exc)}). Check the id, "
            "your network and, for gated models, `huggingface-cli login`. " + _HINT_ALTERNATIVES
        ) from exc
    snapshot = Path(path)
    return snapshot, snapshot.name


# --- single files -----------------------------------------------------------------------


def _load_single_file(
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    cache_root: Path,
    config_dir: Path | None,
) -> tuple[StableDiffusionPipeline, bool]:
    info = checkpoints.inspect_checkpoint(path)
    embedded = info.embedded_config
    if config_dir is not None:
        config = Path(config_dir)
    elif embedded is not None:
        config = materialize_config(embedded, cache_root)
    else:
        config = sd15_config(cache_root)
    checkpoints.check_sd1(info, config)
    needed = pipeline_bytes(info, dtype)
    check_fits(needed, available_memory(torch.device("cpu")), torch.device("cpu"))
    if device.type != "cpu":
        check_fits(needed + _ACTIVATION_HEADROOM_BYTES, available_memory(device), device)
    from diffusers import StableDiffusionPipeline

    def load() -> StableDiffusionPipeline:
        pipe: StableDiffusionPipeline = StableDiffusionPipeline.from_single_file(
            str(path),
            config=str(config),
            local_files_only=True,
            dtype=dtype,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        return pipe

    tiny = bool(embedded and embedded.get("riffbot_tiny"))
    pipe = _guarded(load, f"the checkpoint {path}")
    # LDM and diffusers keys map one to one, so equal counts mean nothing was left random.
    for component, prefix in (
        ("unet", checkpoints.UNET_PREFIX),
        ("vae", checkpoints.VAE_PREFIX),
        ("text_encoder", checkpoints.TEXT_PREFIX),
    ):
        have = sum(
            1 for k in info.shapes if k.startswith(prefix) and not k.endswith("position_ids")
        )
        want = sum(
            1 for k in getattr(pipe, component).state_dict() if not k.endswith("position_ids")
        )
        _refuse_missing(component, want - have, path)
    return pipe, tiny


def sd15_config(cache_root: Path) -> Path:
    """The shipped SD1.5 config directory plus tokenizer files, materialised once in the cache."""
    shipped = sd15_config_dir()
    digest = hashlib.sha256()
    for file in sorted(shipped.rglob("*.json")):
        digest.update(file.relative_to(shipped).as_posix().encode())
        digest.update(file.read_bytes())
    target = cache_root / "configs" / f"sd15-{digest.hexdigest()[:12]}"

    def build(staging: Path) -> None:
        shutil.copytree(shipped, staging, dirs_exist_ok=True)
        write_tokenizer_files(staging / "tokenizer")

    return _materialize(target, build)


def materialize_config(embedded: dict[str, Any], cache_root: Path) -> Path:
    """Turn a config embedded in a checkpoint into a config-only diffusers directory."""
    blob = json.dumps(embedded, sort_keys=True).encode()
    target = cache_root / "configs" / f"embedded-{hashlib.sha256(blob).hexdigest()[:12]}"

    def build(staging: Path) -> None:
        checkpoints.write_config_dir(embedded, staging)
        write_tokenizer_files(staging / "tokenizer")

    return _materialize(target, build)


def _materialize(target: Path, build: Callable[[Path], None]) -> Path:
    """Build ``target`` in a staging folder and rename it into place (safe across processes)."""
    if (target / "model_index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(staging)
        staging.chmod(0o755)
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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
            raise ModelError(f"The model does not fit in {device} memory ({_short(exc)}).") from exc
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
