"""One typed settings object, read from the environment and ``.env``.

Every key is documented in ``.env.example``. The Discord token is a ``SecretStr`` so that it
never shows up in a repr, a log line or a traceback.
"""

from __future__ import annotations

from pathlib import Path

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
    max_prompt_chars: int = Field(default=400, ge=1)
    max_audio_seconds: float = Field(default=60.0, gt=0)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)

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

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"
