"""The things every command, button and reaction handler needs, bundled and passed in."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import discord

from bot.config import BotConfig
from bot.dispatcher import Dispatcher
from bot.store import JobStore
from generation.types import JobRunner

CombinePictures = Callable[[Sequence[Path]], bytes]
"""The takes' readable pictures -> one PNG labelled take 1..N (``generation.picture``)."""
DurationProbe = Callable[[Path], Awaitable[float | None]]
"""How long an uploaded audio file plays (``bot.media.probe_duration``); ``None`` if unknown."""


class ServerLinks(Protocol):
    """A server's two web pages (signed links; the web room makes them)."""

    @property
    def radio(self) -> str: ...

    @property
    def gallery(self) -> str: ...


WebLinkMaker = Callable[[int], ServerLinks]
"""guild id -> its links; handed in by the wiring, so the bot never sees the signing key."""


@dataclass
class Services:
    runner: JobRunner
    store: JobStore
    config: BotConfig
    dispatcher: Dispatcher
    rng: random.Random = field(default_factory=random.Random)
    seed_images: tuple[str, ...] = ()
    probe: DurationProbe | None = None
    web_links: WebLinkMaker | None = None
    combine_pictures: CombinePictures | None = None


def services_of(client: discord.Client | Any) -> Services:
    """The services of the bot that received an interaction (see ``bot.app.RiffBot``)."""
    found = getattr(client, "services", None)
    if not isinstance(found, Services):
        raise RuntimeError("this client was not built by bot.app.create_bot")
    return found
