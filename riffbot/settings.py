"""One typed settings object, read from the environment and ``.env``.

Every key is documented in ``.env.example``. The Discord token is a ``SecretStr`` so that it
never shows up in a repr, a log line or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "riffusion/riffusion-model-v1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RIFFBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- model and device -------------------------------------------------------------
    model: str = DEFAULT_MODEL
    model_revision: str | None = None
    model_cache_dir: Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False

    # --- generation defaults and limits ----------------------------------------------
    default_steps: int = Field(default=50, ge=1, le=150)
    default_strength: float = Field(default=0.75, ge=0.0, le=1.0)
    default_guidance: float = Field(default=7.0, ge=0.0, le=30.0)
    default_scheduler: str = "pndm"
    default_seed_image: str = "og_beat"
    default_takes: int = Field(default=2, ge=1, le=4)  # takes per /riff, in one engine batch
    max_prompt_chars: int = Field(default=400, ge=1)
    max_audio_seconds: float = Field(default=60.0, gt=0)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)

    # --- logging ----------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["plain", "json"] = "plain"  # json: one JSON object per line

    # --- storage --------------------------------------------------------------------
    data_dir: Path = Path("data")
    database_url: str = "sqlite:///./data/riffbot.db"
    output_retention_days: int = Field(default=30, ge=0)

    # --- Discord --------------------------------------------------------------------
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "RIFFBOT_DISCORD_TOKEN")
    )
    dev_guild_id: int | None = None
    max_active_jobs_per_user: int = Field(default=2, ge=1)
    max_queue_length: int = Field(default=50, ge=1)

    # --- Discord bot (bot/ room) -------------------------------------------------------
    # Seconds between progress edits of one status message (state changes show at once).
    bot_progress_interval_s: float = Field(default=2.0, ge=0.0)
    # Sync slash commands on start (guild-scoped when dev_guild_id is set, else global).
    bot_sync_commands: bool = True

    # --- job engine (generation/engine.py, generation/scheduling.py) -------------------
    # Requests with the same shape run through the UNet together, at most this many (1 on CPU;
    # 2-4 pays off on a GPU).
    engine_max_batch: int = Field(default=1, ge=1, le=16)
    # While radio clips wait, at least one of every this many picks goes to the radio.
    engine_radio_every: int = Field(default=3, ge=1)
    # Radio clips one guild may have queued or running (its prefetch buffer).
    engine_max_radio_jobs_per_guild: int = Field(default=4, ge=1)
    # Seconds between two progress reports of one job (first, last and state changes always go).
    engine_progress_interval_s: float = Field(default=0.5, ge=0.0)

    # --- radio (generation/radio*.py, bot/radio/, bot/voice.py) -----------------------
    # Clips generated ahead of the one playing (Riffusion's app keeps 3).
    radio_ahead: int = Field(default=3, ge=1, le=10)
    # Equal-power crossfade between clips, seconds (short: clips share the seed image's beat).
    radio_crossfade_s: float = Field(default=0.05, ge=0.0, le=1.0)
    # Seconds one member must wait between two /radio prompt requests.
    radio_prompt_cooldown_s: float = Field(default=20.0, ge=0.0)
    # Seconds of an empty voice channel (paused) before the radio leaves.
    radio_empty_leave_s: float = Field(default=120.0, ge=0.0)
    # Seconds without an audio frame sent before the watchdog reconnects.
    radio_stall_s: float = Field(default=5.0, gt=0.0)
    # Seconds of audio /radio save posts.
    radio_save_seconds: float = Field(default=25.0, gt=0.0, le=30.0)
    # Opus bitrate in kbit/s (at most the voice channel's bitrate; 96 is Discord's default).
    radio_bitrate_kbps: int = Field(default=96, ge=16, le=512)

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"
