"""How every command fails: one line, ``riffbot: error: ...``, and a meaningful exit status.

2 means the command was asked wrongly (arguments, settings, input files); 1 means it was asked
rightly and something failed while doing it (a database, a disk, a model). Output folders are
checked here before anything slow runs, so a read-only folder costs a second, not a model load
and minutes of generation.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from pydantic import ValidationError

PREFIX = "riffbot: error: "
USAGE = 2
RUNTIME = 1
BITRATE = re.compile(r"^(?:[1-9]\d{0,2})k$")


class CliError(Exception):
    """A failure the command explains in one line; ``code`` is the exit status."""

    def __init__(self, message: str, *, code: int = RUNTIME) -> None:
        super().__init__(message)
        self.code = code


def line(message: str) -> str:
    """``message`` as one line with the one prefix (no doubled "error:")."""
    text = " ".join(str(message).split())
    for stale in ("riffbot: ", "error: "):
        text = text.removeprefix(stale)
    return PREFIX + text


def report(message: str, code: int) -> int:
    print(line(message), file=sys.stderr)
    return code


def fail(message: str, *, code: int = USAGE) -> NoReturn:
    raise CliError(message, code=code)


def settings_problem(error: ValidationError) -> str:
    """Which setting is wrong and why, named as the operator writes it (env or ``.env``)."""
    parts = []
    for item in error.errors():
        name = "RIFFBOT_" + "_".join(str(part) for part in item["loc"]).upper()
        if name == "RIFFBOT_DISCORD_TOKEN":
            name = "DISCORD_TOKEN"
        parts.append(f"{name}: {item['msg']}")
    return "bad setting " + "; ".join(parts) + " (check the environment and .env)"


def check_output_dir(folder: Path, *, create: bool = True) -> None:
    """Refuse now if files cannot be written in ``folder`` (made later when ``create``)."""
    folder = Path(folder).expanduser()
    if folder.exists():
        if not folder.is_dir():
            fail(f"the output folder '{folder}' is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            fail(f"the output folder '{folder}' is not writable")
        return
    if not create:
        fail(f"the output folder '{folder}' does not exist")
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"cannot make the output folder '{folder}': '{ancestor}' is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        fail(f"cannot make the output folder '{folder}': '{ancestor}' is not writable")


def check_output_file(path: Path) -> None:
    """Refuse now if ``path`` cannot be written: its folder must exist and be writable."""
    path = Path(path).expanduser()
    if path.is_dir():
        fail(f"the output '{path}' is a folder; give a file name")
    check_output_dir(path.parent if str(path.parent) else Path("."), create=False)
