"""Model commands: ``make-tiny`` (test model), ``convert`` (folder -> single file), ``check``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from riffbot.cli.errors import check_output_dir, check_output_file, report

if TYPE_CHECKING:
    from riffbot.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("model", help="build, convert and check diffusion models")
    commands = parser.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")

    tiny = commands.add_parser(
        "make-tiny",
        help="build the tiny random test model (it makes noise, not music)",
        description="Build a tiny, randomly initialised SD1.x-shaped pipeline in DIR, saved in "
        "the layout of riffusion/riffusion-model-v1. Needs no network. It makes noise, not music: "
        "use it for tests and smoke runs (`--model DIR` or `--model tiny`).",
    )
    tiny.add_argument("directory", type=Path, metavar="DIR", help="new or empty folder")
    tiny.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    tiny.set_defaults(func=make_tiny_command)

    convert = commands.add_parser(
        "convert",
        help="write a diffusers folder as one LDM-layout .safetensors/.ckpt file",
    )
    convert.add_argument("folder", type=Path, help="diffusers model folder")
    convert.add_argument("out", type=Path, help="output file (.safetensors recommended)")
    convert.add_argument(
        "--half", action="store_true", help="store weights in float16 (half the size)"
    )
    convert.set_defaults(func=convert_command)

    check = commands.add_parser(
        "check", help="load a model (path, hub id or tiny) and report what was loaded"
    )
    check.add_argument("source", nargs="?", help="model to load (default: from settings)")
    check.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    check.add_argument("--dtype", help="auto, float32, float16 or bfloat16")
    check.add_argument(
        "--offline", action="store_true", help="never download; use local files only"
    )
    check.set_defaults(func=check_command)


def make_tiny_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.tiny import NOISE_NOT_MUSIC, make_tiny

    check_output_dir(args.directory)
    try:
        path = make_tiny(args.directory, seed=args.seed)
    except FileExistsError as exc:
        return report(str(exc), 1)
    print(f"Saved the tiny model to {path}")
    print(NOISE_NOT_MUSIC)
    print(f"Use it with: --model {path}")
    return 0


def convert_command(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    from generation.checkpoints import write_single_file
    from generation.model_sources import check_folder
    from generation.types import ModelError

    check_output_file(args.out)
    try:
        check_folder(args.folder)
        out = write_single_file(args.folder, args.out, dtype=torch.float16 if args.half else None)
    except ModelError as exc:
        return report(str(exc), 1)
    print(f"Wrote {out} ({out.stat().st_size / 1024**2:.1f} MiB)")
    return 0


def check_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.models import load_model
    from generation.types import ModelError

    try:
        loaded = load_model(
            args.source or settings.model,
            device=args.device or settings.device,
            dtype=args.dtype or settings.dtype,
            revision=settings.model_revision,
            cache_dir=settings.model_cache_dir,
            allow_download=not args.offline,
        )
    except ModelError as exc:
        return report(str(exc), 1)
    unet_params = sum(p.numel() for p in loaded.pipe.unet.parameters())
    print(f"model:     {loaded.model_id}" + (f" @ {loaded.revision}" if loaded.revision else ""))
    print(f"device:    {loaded.device} ({loaded.dtype})")
    print(f"unet:      {unet_params / 1e6:.1f} M parameters")
    print(f"scheduler: {type(loaded.pipe.scheduler).__name__}")
    if loaded.is_tiny:
        print("note:      this is the tiny test model: it makes noise, not music")
    return 0
