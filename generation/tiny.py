"""A tiny, randomly initialised SD1.x-shaped pipeline for tests and offline smoke runs.

It keeps the geometry that matters to the rest of Riffbot (512x512 image <-> 4x64x64 latent,
77-token CLIP conditioning, the real CLIP tokenizer, Riffusion's PNDM scheduler) and is saved in
the on-disk layout of ``riffusion/riffusion-model-v1``. So the test suite loads it through exactly
the code path users run on the real model. Its weights are random: **it makes noise, not music.**
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from generation.clip_tokenizer import BOS_ID, EOS_ID, VOCAB_SIZE, write_tokenizer_files

log = logging.getLogger(__name__)

NOISE_NOT_MUSIC = (
    "The tiny model has random weights: it makes noise, not music. "
    "Use it for tests and smoke runs only."
)
# Written next to model_index.json so that a loaded folder can say it is the tiny model.
TINY_MARKER = "riffbot_tiny.json"

# DownBlock2D at 64x64 keeps self-attention over 4096 tokens out: that attention was about 85 %
# of the tiny UNet's CPU time, and leaving it out made the tiny model about 7x faster.
TINY_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": (
        "DownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (16, 16, 32, 32),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "cross_attention_dim": 32,
    "attention_head_dim": 4,
}
# Exactly SD1.x's block types, for checks that need the real key layout (7x slower on CPU).
TINY_UNET_SD_LAYOUT: dict[str, Any] = {
    **TINY_UNET,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
}
# Four blocks, so that vae_scale_factor = 2 ** 3 = 8 (512 px <-> 64 latent).
TINY_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 8, 16, 16),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "latent_channels": 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
TINY_TEXT: dict[str, Any] = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
    "pad_token_id": EOS_ID,
}


def sd15_config_dir() -> Path:
    """The shipped config-only SD1.5 diffusers directory (no weights, no tokenizer files)."""
    return Path(str(resources.files("generation") / "configs" / "sd15"))


def riffusion_scheduler_config() -> dict[str, Any]:
    """Riffusion's PNDM settings, read from the one copy shipped with the SD1.5 configs."""
    path = sd15_config_dir() / "scheduler" / "scheduler_config.json"
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def is_tiny_dir(directory: Path) -> bool:
    return (directory / TINY_MARKER).is_file()


def assemble_pipeline(unet: Any, vae: Any, text_encoder: Any, tokenizer_dir: Path) -> Any:
    """SD1.x modules as Riffusion runs them: its PNDM scheduler, no safety checker (it flags
    spectrograms falsely). Shared by the tiny model and the SD1.5-sized benchmark model."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(tokenizer_dir),
        unet=unet,
        scheduler=PNDMScheduler.from_config(riffusion_scheduler_config()),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def make_tiny(directory: Path, *, seed: int = 0, sd_layout: bool = False) -> Path:
    """Build the tiny pipeline and save it to ``directory`` (created; must not hold a model).

    The same ``seed`` gives bit-identical weights. ``sd_layout`` uses SD1.x's exact UNet block
    types (slower) for round trips through the original LDM checkpoint key layout. The model is
    written to a temporary sibling first and renamed into place, so an interrupted build never
    leaves a half-written folder that would later load as if complete.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    directory = Path(directory)
    if (directory / "model_index.json").exists():
        raise FileExistsError(f"{directory} already holds a model; choose an empty folder")
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty; choose an empty or new folder")
    directory.parent.mkdir(parents=True, exist_ok=True)

    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        tokenizer_dir = write_tokenizer_files(staging / ".tokenizer")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = UNet2DConditionModel(**(TINY_UNET_SD_LAYOUT if sd_layout else TINY_UNET))
            vae = AutoencoderKL(**TINY_VAE)
            text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT))
        pipe = assemble_pipeline(unet, vae, text_encoder, tokenizer_dir)
        pipe.save_pretrained(staging, safe_serialization=True)
        # save_pretrained writes transformers' own tokenizer.json; put back the four files
        # the real SD1.x repositories carry, so loading follows the real models' path.
        shutil.rmtree(staging / "tokenizer")
        os.replace(tokenizer_dir, staging / "tokenizer")
        marker = {"tiny": True, "seed": seed, "sd_layout": sd_layout, "note": NOISE_NOT_MUSIC}
        (staging / TINY_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a model folder is ordinary data
        if directory.exists():
            directory.rmdir()
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("Saved the tiny model to %s. %s", directory, NOISE_NOT_MUSIC)
    return directory
