"""What the radio's controller is given: its knobs, its collaborators, and the few Discord
facts and actions it needs (``DiscordPort``), so tests drive it with fakes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.radio.store import RadioStore
from bot.store import JobStore
from bot.voice import Connector, WatchdogConfig
from generation.radio_plan import DEFAULT_PROMPT, RadioSettings, RadioState
from generation.radio_types import Station, StationHooks

StationFactory = Callable[[RadioState, StationHooks, str], Station]
"""``(state, hooks, owner) -> station``; the composition root binds the engine."""


@dataclass
class RadioConfig:
    settings: RadioSettings = field(default_factory=RadioSettings)
    prompt_cooldown_s: float = 20.0
    save_seconds: float = 25.0
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    run_watchdog: bool = True
    default_prompt: str = DEFAULT_PROMPT
    bitrate_kbps: int = 96
    volume_step_pct: int = 10
    max_volume_pct: int = 200
    now_playing_interval_s: float = 4.0
    strip_seconds: float = 20.0


@dataclass
class RadioDeps:
    make_station: StationFactory
    store: RadioStore
    jobs: JobStore
    encode_mp3: Callable[[bytes, int], bytes]
    config: RadioConfig = field(default_factory=RadioConfig)
    connector: Connector | None = None
    """``None``: discord.py voice (:class:`bot.voice.DiscordConnector`)."""
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    radio_page: Callable[[int], str] | None = None
    """guild id -> the signed link of its web radio page (``None``: no web companion)."""


class DiscordPort(Protocol):
    """The few Discord facts and actions the controller needs."""

    def listeners(self, voice_channel_id: int) -> frozenset[int]:
        """Ids of the humans (not bots) in the voice channel."""
        ...

    async def post(self, text_channel_id: int | None, text: str) -> None: ...

    async def set_channel_status(self, voice_channel_id: int, text: str | None) -> None: ...

    async def post_now_playing(
        self, guild_id: int, text_channel_id: int | None, text: str, png: bytes | None
    ) -> int | None:
        """Post the now-playing message with the radio's buttons; its id (None: not posted)."""
        ...

    async def edit_now_playing(
        self,
        guild_id: int,
        text_channel_id: int,
        message_id: int,
        text: str,
        png: bytes | None,
        *,
        controls: bool = True,
    ) -> bool:
        """Edit it (``controls`` False: without buttons); False when it no longer exists."""
        ...
