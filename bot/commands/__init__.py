"""Slash commands, one module per command; each exposes ``register(tree, services)``.

Command modules deliberately do not use ``from __future__ import annotations``: discord.py
reads option types and bounds (``Range[...]``) from the annotations at registration time, and
some bounds come from settings, so they must be real objects, not strings.
"""

from __future__ import annotations

from discord import app_commands

from bot.commands import (
    blend,
    cancel,
    context,
    help,
    history,
    preferences,
    queue,
    remix,
    riff,
    settings,
    show,
    web,
)
from bot.services import Services

MODULES = (
    riff,
    blend,
    remix,
    show,
    history,
    queue,
    cancel,
    help,
    settings,
    preferences,
    context,
    web,
)


def register_all(tree: app_commands.CommandTree, services: Services) -> None:
    for module in MODULES:
        module.register(tree, services)
