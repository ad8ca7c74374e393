"""The loading sources: a diffusers folder, a hub snapshot and a single checkpoint file.

Each ends in the same checks (every SD1.x weight present, the model fits) and turns every
diffusers or hub failure into one :class:`ModelError` sentence that says what to do next.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from generation import checkpoints
from generation.clip_tokenizer import write_tokenizer_files
from generation.model_device import (
    available_memory,
    brief,
    check_fits,
    estimate_bytes,
    pipeline_bytes,
)
from generation.tiny import sd15_config_dir
from generation.types import ModelError

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

log = logging.getLogger(__name__)

COMPONENTS = ("unet", "vae", "text_encoder")
_WEIGHT_NAMES = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "text_encoder": ("model.safetensors", "pytorch_model.bin"),
}
_ACTIVATION_HEADROOM_BYTES = 2 * 1024**3
HINT_ALTERNATIVES = (
    "Pass a local diffusers folder (e.g. a downloaded copy of riffusion/riffusion-model-v1), "
    "a single .safetensors/.ckpt file, or `tiny` for the random test model "
    "(`riffbot model make-tiny DIR`; it makes noise, not music)."
)


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
            f"{folder} is not a diffusers model folder (no model_index.json). " + HINT_ALTERNATIVES
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


def load_folder(folder: Path, device: torch.device, dtype: torch.dtype) -> StableDiffusionPipeline:
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
            f"model ({type(exc).__name__}: {brief(exc)}). Download or convert it again."
        ) from exc


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


def hub_folder(
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
            + HINT_ALTERNATIVES
        )
    if hub_offline_by_env() or not hub_reachable():
        raise ModelError(
            f"Cannot download {repo_id}: this machine is offline (HF_HUB_OFFLINE is set or "
            "huggingface.co is unreachable) and it is not in the local cache. " + HINT_ALTERNATIVES
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
            f"Downloading {repo_id} failed ({type(exc).__name__}: {brief(exc)}). Check the id, "
            "your network and, for gated models, `huggingface-cli login`. " + HINT_ALTERNATIVES
        ) from exc
    snapshot = Path(path)
    return snapshot, snapshot.name


# --- single files -----------------------------------------------------------------------


def load_single_file(
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
