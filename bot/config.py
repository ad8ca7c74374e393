"""The bot's own knobs, read once from settings so that modules below never see the token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riffbot.settings import Settings


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

    @classmethod
    def from_settings(cls, settings: Settings) -> BotConfig:
        return cls(
            out_dir=settings.outputs_dir,
            max_prompt_chars=settings.max_prompt_chars,
            default_steps=settings.default_steps,
            default_strength=settings.default_strength,
            default_guidance=settings.default_guidance,
            default_scheduler=settings.default_scheduler,
            default_seed_image=settings.default_seed_image or None,
            max_active_per_user=settings.max_active_jobs_per_user,
            max_queue_length=settings.max_queue_length,
            max_upload_bytes=settings.max_upload_bytes,
            max_audio_seconds=settings.max_audio_seconds,
            progress_interval_s=settings.bot_progress_interval_s,
            dev_guild_id=settings.dev_guild_id,
            sync_commands=settings.bot_sync_commands,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
        )
