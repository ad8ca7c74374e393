"""Single-file checkpoints in the original LDM (CompVis) key layout: read, check, write.

Most SD1.x fine-tunes, Riffusion's own ``riffusion-model-v1.ckpt`` included, circulate as one
``.ckpt``/``.safetensors`` with keys ``model.diffusion_model.*`` (UNet), ``first_stage_model.*``
(VAE) and ``cond_stage_model.transformer.text_model.*`` (CLIP text encoder). This module

* inspects such a file without trusting it (``weights_only`` unpickling, headers only for
  safetensors) and says plainly when it is corrupt or not an SD1.x model;
* writes one from a diffusers folder (the inverse of diffusers' ``from_single_file``
  conversion), optionally embedding the diffusers configs so that non-standard shapes (the tiny
  test model) load offline without any hub lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generation.types import ModelError

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer.text_model."
CONFIG_KEY = "riffbot_diffusers_config"  # safetensors metadata key / .ckpt top-level key
_COMPONENT_CONFIGS = {
    "unet": "config.json",
    "vae": "config.json",
    "text_encoder": "config.json",
    "scheduler": "scheduler_config.json",
}
_SAFETENSORS_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a single-file checkpoint holds, read without running any code from it."""

    path: Path
    shapes: Mapping[str, tuple[int, ...]]
    embedded_config: dict[str, Any] | None


# --- reading ------------------------------------------------------------------------------


def _unwrap_state_dict(obj: Any) -> tuple[dict[str, Any], Any]:
    extra = obj.get(CONFIG_KEY) if isinstance(obj, dict) else None
    while isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelError("The checkpoint does not hold a state dict (a mapping of tensors).")
    return obj, extra


def load_ckpt(path: Path) -> tuple[dict[str, torch.Tensor], Any]:
    """Unpickle a .ckpt in ``weights_only`` mode: tensors and plain containers, never code."""
    try:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc).lower():
                raise
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text:
            raise ModelError(
                f"{path} contains pickled Python objects beyond plain tensors; Riffbot refuses to "
                "unpickle them because that could run arbitrary code. Use a .safetensors version."
            ) from exc
        raise ModelError(
            f"{path} could not be read as a PyTorch checkpoint; it looks corrupt or truncated "
            f"({type(exc).__name__}: {' '.join(text.split())[:200]}). Download it again."
        ) from exc
    state, extra = _unwrap_state_dict(raw)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return tensors, extra


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """Read key names, shapes and any embedded diffusers config; raise ModelError if unreadable."""
    path = Path(path)
    embedded: Any = None
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
                embedded = (handle.metadata() or {}).get(CONFIG_KEY)
        except Exception as exc:
            raise ModelError(
                f"{path} is not a readable .safetensors file; it looks corrupt or truncated "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}). Download it again."
            ) from exc
        # The header can be intact while the data is cut short: compare sizes.
        _check_safetensors_length(path)
    else:
        tensors, embedded = load_ckpt(path)
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    config = None
    if isinstance(embedded, str):
        try:
            config = json.loads(embedded)
        except ValueError as exc:
            raise ModelError(f"{path} carries an unreadable embedded config.") from exc
    elif isinstance(embedded, dict):
        config = embedded
    return CheckpointInfo(path=path, shapes=shapes, embedded_config=config)


def _safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """The JSON header of a .safetensors file (tensor names, dtypes, offsets) and its length."""
    with path.open("rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header: dict[str, Any] = json.loads(handle.read(header_len))
    return header_len, header


def _check_safetensors_length(path: Path) -> None:
    header_len, header = _safetensors_header(path)
    end = max(
        (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
        default=0,
    )
    if path.stat().st_size < 8 + header_len + end:
        raise ModelError(
            f"{path} is truncated: its header promises {8 + header_len + end} bytes but the "
            f"file has {path.stat().st_size}. The download was probably cut short; fetch it again."
        )


def weight_keys(path: Path) -> set[str]:
    """Tensor names in one weight file (safetensors header only; .bin read weights_only)."""
    if path.suffix.lower() == ".safetensors":
        return {k for k in _safetensors_header(path)[1] if k != "__metadata__"}
    if path.is_file():
        tensors, _ = load_ckpt(path)
        return set(tensors)
    return set()


def stored_itemsize(path: Path) -> int:
    """Bytes per stored weight (from a safetensors header; 4 for anything else)."""
    if path.suffix.lower() != ".safetensors":
        return 4
    try:
        _, header = _safetensors_header(path)
        sizes = [
            _SAFETENSORS_ITEMSIZE.get(v.get("dtype", "F32"), 4)
            for k, v in header.items()
            if k != "__metadata__"
        ]
    except (OSError, ValueError, AttributeError):
        return 4
    return max(sizes, default=4)


def check_sd1(info: CheckpointInfo, config_dir: Path) -> None:
    """Refuse anything that is not an SD1.x checkpoint matching ``config_dir``'s shapes."""
    keys = info.shapes.keys()
    name = info.path.name
    if any(k.startswith("conditioner.embedders") for k in keys):
        raise ModelError(f"{name} is an SDXL checkpoint; Riffbot needs Stable Diffusion v1.x.")
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise ModelError(
            f"{name} is a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder); Riffbot "
            "needs v1.x."
        )
    missing = [
        what
        for prefix, what in (
            (UNET_PREFIX, "UNet (model.diffusion_model.*)"),
            (VAE_PREFIX, "VAE (first_stage_model.*)"),
            (TEXT_PREFIX, "text encoder (cond_stage_model.transformer.*)"),
        )
        if not any(k.startswith(prefix) for k in keys)
    ]
    if missing:
        raise ModelError(
            f"{name} is not a complete Stable Diffusion v1.x checkpoint: no {', no '.join(missing)}"
            ". LoRAs, VAEs and UNet-only files cannot be loaded on their own."
        )
    unet = json.loads((config_dir / "unet" / "config.json").read_text(encoding="utf-8"))
    conv_in = info.shapes.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is not None and len(conv_in) == 4:
        if conv_in[1] != unet.get("in_channels", 4):
            raise ModelError(
                f"{name} has a UNet with {conv_in[1]} input channels (an inpainting or depth "
                "model?); Riffbot needs a plain text-to-image SD1.x model with 4."
            )
        expected = unet.get("block_out_channels", [320])[0]
        if conv_in[0] != expected:
            raise ModelError(
                f"{name} has UNet width {conv_in[0]} but the config expects {expected}; pass a "
                "matching config folder (config_dir) or convert the model again."
            )
    context = next(
        (s for k, s in info.shapes.items() if k.startswith(UNET_PREFIX) and "attn2.to_k." in k),
        None,
    )
    if context is not None and context[-1] != unet.get("cross_attention_dim", 768):
        raise ModelError(
            f"{name} conditions on {context[-1]}-wide text embeddings, not the "
            f"{unet.get('cross_attention_dim', 768)} of the config; it is not an SD1.x model "
            "of this shape."
        )


# --- writing ------------------------------------------------------------------------------


def _renames(pairs: Iterable[tuple[str, str]], key: str) -> str:
    for old, new in pairs:
        key = key.replace(old, new)
    return key


_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
)


def unet_to_ldm(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, Any]:
    """diffusers UNet2DConditionModel keys -> LDM ``openaimodel.UNetModel`` keys (any depth)."""
    per = int(config["layers_per_block"]) + 1  # LDM blocks per level: resnets (+ downsampler)
    n_levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    up_has_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    for key, value in state.items():
        parts = key.split(".")
        two, one = ".".join(parts[:2]), parts[0]
        if two in fixed:
            new = fixed[two] + "." + ".".join(parts[2:])
        elif one in fixed:
            new = fixed[one] + "." + ".".join(parts[1:])
        elif parts[0] == "down_blocks":
            level, kind, idx, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
            if kind == "resnets":
                new = f"input_blocks.{per * level + idx + 1}.0." + _renames(_RESNET, ".".join(rest))
            elif kind == "attentions":
                new = f"input_blocks.{per * level + idx + 1}.1." + ".".join(rest)
            else:  # downsamplers.0.conv.*
                new = f"input_blocks.{per * (level + 1)}.0.op." + ".".join(rest[1:])
        elif parts[0] == "mid_block":
            kind, idx, tail = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                new = f"middle_block.{2 * idx}." + _renames(_RESNET, tail)
            else:
                new = "middle_block.1." + tail
        elif parts[0] == "up_blocks":
            level, kind, idx, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
            if kind == "resnets":
                new = f"output_blocks.{per * level + idx}.0." + _renames(_RESNET, ".".join(rest))
            elif kind == "attentions":
                new = f"output_blocks.{per * level + idx}.1." + ".".join(rest)
            else:  # upsamplers.0.conv.*
                slot = 2 if up_has_attn[level] else 1
                new = f"output_blocks.{per * level + per - 1}.{slot}." + ".".join(rest)
        else:
            raise ValueError(f"unexpected UNet key {key!r}")
        if level_out_of_range(new, n_levels, per):
            raise ValueError(f"UNet key {key!r} maps outside the model")
        out[UNET_PREFIX + new] = value
    return out


def level_out_of_range(key: str, n_levels: int, per: int) -> bool:
    match = re.match(r"(input|output)_blocks\.(\d+)\.", key)
    return bool(match and int(match.group(2)) > n_levels * per)


_VAE_RESNET = (("conv_shortcut", "nin_shortcut"),)
_VAE_ATTN = (
    ("group_norm", "norm"),
    ("to_q", "q"),
    ("to_k", "k"),
    ("to_v", "v"),
    ("to_out.0", "proj_out"),
    # diffusers < 0.14 names (riffusion-model-v1's VAE was saved by diffusers 0.9)
    ("query", "q"),
    ("key", "k"),
    ("value", "v"),
    ("proj_attn", "proj_out"),
)


def vae_to_ldm(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, Any]:
    """diffusers AutoencoderKL keys -> LDM ``AutoencoderKL`` keys (decoder levels reversed)."""
    n_levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]
        if side in ("quant_conv", "post_quant_conv"):
            new = key
        elif parts[1] in ("down_blocks", "up_blocks"):
            level = int(parts[2])
            ldm_level = level if side == "encoder" else n_levels - 1 - level
            name = "down" if side == "encoder" else "up"
            kind, rest = parts[3], ".".join(parts[5:])
            if kind == "resnets":
                new = f"{side}.{name}.{ldm_level}.block.{parts[4]}." + _renames(_VAE_RESNET, rest)
            else:  # downsamplers.0.conv / upsamplers.0.conv
                sampler = "downsample" if side == "encoder" else "upsample"
                new = f"{side}.{name}.{ldm_level}.{sampler}." + rest
        elif parts[1] == "mid_block":
            kind, idx, rest = parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                new = f"{side}.mid.block_{idx + 1}." + _renames(_VAE_RESNET, rest)
            else:
                new = f"{side}.mid.attn_1." + _renames(_VAE_ATTN, rest)
                if value.ndim == 2:  # LDM keeps attention projections as 1x1 convolutions
                    value = value[:, :, None, None]
        else:
            new = {"conv_norm_out": f"{side}.norm_out"}.get(parts[1], f"{side}.{parts[1]}")
            new += "." + ".".join(parts[2:])
        out[VAE_PREFIX + new] = value
    return out


def text_to_ldm(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """CLIPTextModel keys (transformers 5 drops ``text_model.``) -> SD1.x LDM keys."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        bare = key.removeprefix("text_model.")
        out[TEXT_PREFIX + bare] = value
    return out


def _read_component(folder: Path, component: str) -> dict[str, torch.Tensor]:
    for name in ("diffusion_pytorch_model.safetensors", "model.safetensors"):
        path = folder / component / name
        if path.is_file():
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
    for name in ("diffusion_pytorch_model.bin", "pytorch_model.bin"):
        path = folder / component / name
        if path.is_file():
            tensors, _ = load_ckpt(path)
            return tensors
    raise ModelError(f"{folder / component} has no weights to convert.")


def folder_config(folder: Path) -> dict[str, Any]:
    """The configs a single file needs to be rebuilt offline, as one JSON-able mapping."""
    config: dict[str, Any] = {
        "model_index": json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    }
    for component, filename in _COMPONENT_CONFIGS.items():
        path = folder / component / filename
        config[component] = json.loads(path.read_text(encoding="utf-8"))
    if (folder / "riffbot_tiny.json").is_file():
        config["riffbot_tiny"] = json.loads((folder / "riffbot_tiny.json").read_text("utf-8"))
    return config


def write_config_dir(config: Mapping[str, Any], directory: Path) -> Path:
    """Write the config-only diffusers directory described by :func:`folder_config`."""
    directory.mkdir(parents=True, exist_ok=True)
    index = dict(config["model_index"])
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        index[optional] = [None, None]
    index["requires_safety_checker"] = False
    (directory / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    for component, filename in _COMPONENT_CONFIGS.items():
        (directory / component).mkdir(exist_ok=True)
        (directory / component / filename).write_text(
            json.dumps(config[component], indent=2), encoding="utf-8"
        )
    return directory


def write_single_file(
    folder: Path,
    out: Path,
    *,
    embed_config: bool = True,
    dtype: torch.dtype | None = None,
) -> Path:
    """Convert a diffusers SD1.x folder into one LDM-layout ``.safetensors`` or ``.ckpt``.

    ``embed_config`` stores the folder's diffusers configs inside the file (safetensors metadata,
    or a top-level key of the .ckpt dict), which lets :func:`generation.models.load_model` rebuild
    models of non-standard shape offline. Real SD1.x models do not need it.
    """
    folder, out = Path(folder), Path(out)
    config = folder_config(folder)
    state: dict[str, Any] = {}
    state.update(unet_to_ldm(_read_component(folder, "unet"), config["unet"]))
    state.update(vae_to_ldm(_read_component(folder, "vae"), config["vae"]))
    state.update(text_to_ldm(_read_component(folder, "text_encoder")))
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    state = {k: v.contiguous() for k, v in state.items()}
    blob = json.dumps(config, sort_keys=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(out), metadata={CONFIG_KEY: blob} if embed_config else None)
    elif suffix in (".ckpt", ".pt", ".pth"):
        payload: dict[str, Any] = {"state_dict": state}
        if embed_config:
            payload[CONFIG_KEY] = blob
        torch.save(payload, out)
    else:
        raise ModelError(f"Cannot write {out}: use a .safetensors or .ckpt file name.")
    return out
