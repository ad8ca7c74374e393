"""The bot's own knobs. ``riffbot.wiring`` builds them from settings, so the bot never sees the
settings (nor the token) and never imports a floor above it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BotConfig:
    """Defaults and limits for requests made through Discord.

    ``progress_interval_s`` throttles progress edits (Discord rate-limits edits per message;
    the AI Horde bot uses 5 s); state changes such as "started" are always shown at once.
    """

    out_dir: Path
    max_prompt_chars: int = 400
    default_steps: int = 50
    max_steps: int = 100
    default_strength: float = 0.75
    default_guidance: float = 7.0
    default_scheduler: str = "pndm"
    default_seed_image: str | None = "og_beat"
    model_name: str = ""  # shown on posts; wiring passes the model setting
    default_takes: int = 2  # takes per /riff, 1-4; a server default or a preference overrides
    clip_width: int = 512  # image columns per clip (10 ms each); tests use narrow clips
    max_active_per_user: int = 2
    max_queue_length: int = 50
    max_upload_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 60.0
    progress_interval_s: float = 2.0
    dev_guild_id: int | None = None
    sync_commands: bool = True
    # Discord shards this process runs (``None``: unsharded); see README "Scaling out".
    shard_count: int | None = None
    shard_ids: list[int] | None = None
