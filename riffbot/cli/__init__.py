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
from typing import Any, NoReturn

from riffbot.cli import bot, codec, db, generate, model, radio, serve, web
from riffbot.cli.errors import RUNTIME, USAGE, CliError, line, report, settings_problem

GROUPS = (generate, radio, codec, model, db, bot, web, serve)


class DefaultsFormatter(argparse.HelpFormatter):
    """``--help`` names each option's default, where it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default in (None, False, True, "", argparse.SUPPRESS)
            or not action.option_strings
            or "default" in text
        ):
            return action.help
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """Every subcommand's parser (subparsers inherit the class) shows defaults, and says a
    usage mistake in one line, like every other failure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, line(f"{message} (see '{self.prog} --help')") + "\n")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("riffbot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="riffbot", description="Text to music through spectrogram diffusion.")
    parser.add_argument("--version", action="version", version=f"riffbot {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    from riffbot.settings import Settings

    # transformers warns on every start that torchvision is missing for image processors we
    # never use (the pipeline has no safety checker); users can still ask for more.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        return report(settings_problem(error), USAGE)
    try:
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CliError as error:
        return report(str(error), error.code)
    except Exception as error:
        return report(explain(error), RUNTIME)


def explain(error: Exception) -> str:
    """One line for a failure no command explained itself; the likely causes are named."""
    from sqlalchemy.exc import SQLAlchemyError

    from generation.types import GenerationError

    if isinstance(error, GenerationError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        cause = getattr(error, "orig", None) or error
        return f"the database cannot be used ({type(cause).__name__}: {str(cause).splitlines()[0]})"
    if isinstance(error, OSError):
        where = f" '{error.filename}'" if error.filename else ""
        return f"{error.strerror or error}{where}"
    if os.environ.get("RIFFBOT_TRACEBACK"):
        raise error
    return f"unexpected {type(error).__name__}: {error} (set RIFFBOT_TRACEBACK=1 to see where)"


if __name__ == "__main__":
    raise SystemExit(main())
