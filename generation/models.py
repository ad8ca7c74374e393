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
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from generation.model_device import place, resolve_device, resolve_dtype
from generation.model_sources import (
    HINT_ALTERNATIVES,
    check_folder,
    hub_folder,
    hub_offline_by_env,
    hub_reachable,
    load_folder,
    load_single_file,
)
from generation.tiny import NOISE_NOT_MUSIC, is_tiny_dir, make_tiny
from generation.types import ModelError

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

log = logging.getLogger(__name__)

TINY = "tiny"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedModel:
    """A ready pipeline plus what produced it (for result metadata and reproducibility)."""

    pipe: StableDiffusionPipeline
    model_id: str
    revision: str | None
    device: torch.device
    dtype: torch.dtype
    is_tiny: bool


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
        raise ModelError("No model given. " + HINT_ALTERNATIVES)

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
            pipe = load_folder(folder, target, torch_dtype)
            model_id, rev, tiny = TINY, None, True
        else:
            path = Path(text).expanduser()
            if path.is_dir():
                pipe = load_folder(path, target, torch_dtype)
                model_id, rev, tiny = str(path.resolve()), None, is_tiny_dir(path)
            elif path.is_file():
                if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                    raise ModelError(
                        f"{path} is a file but not a .safetensors or .ckpt checkpoint."
                    )
                pipe, tiny = load_single_file(path, target, torch_dtype, cache_root, config_dir)
                model_id, rev = str(path.resolve()), None
            elif _looks_like_path(text) or not _HUB_ID.match(text):
                raise ModelError(f"There is no model at {text!r}. " + HINT_ALTERNATIVES)
            else:
                hub_cache = Path(cache_dir) if cache_dir is not None else None
                folder, rev = hub_folder(text, revision, hub_cache, allow_download)
                pipe = load_folder(folder, target, torch_dtype)
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
        raise ModelError("No model given. " + HINT_ALTERNATIVES)
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
        raise ModelError(f"There is no model at {text!r}. " + HINT_ALTERNATIVES)
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(
            text, "model_index.json", cache_dir=cache_dir, revision=revision
        )
        if not isinstance(cached, str) and (hub_offline_by_env() or not hub_reachable()):
            raise ModelError(
                f"Cannot download {text}: this machine is offline (HF_HUB_OFFLINE is set or "
                "huggingface.co is unreachable) and it is not in the local cache. "
                + HINT_ALTERNATIVES
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
