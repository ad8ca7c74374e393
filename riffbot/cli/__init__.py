"""``riffbot``: thin commands over generation, db and bot.

Each command group lives in its own module with a ``register`` function, so adding a group
touches one file; heavy imports (torch, diffusers, discord) happen inside the handlers, which
keeps ``riffbot --help`` instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from riffbot.cli import bot, codec, db, generate, model, radio, serve

GROUPS = (generate, radio, codec, model, db, bot, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riffbot", description="Text to music through spectrogram diffusion."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from riffbot.settings import Settings

    # transformers warns on every start that torchvision is missing for image processors we
    # never use (the pipeline has no safety checker); users can still ask for more.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, Settings()))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
