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
        env_prefix="RIFFBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # ``KEY=`` as in .env.example means "the default", not ""
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
    # Integrated loudness (ITU-R BS.1770, LUFS) of everything Riffbot plays or posts; the true
    # peak stays at or under -1 dBTP (generation/loudness.py). -14 is the streaming convention.
    loudness_target_lufs: float = Field(default=-14.0, ge=-40.0, le=-6.0)

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
    # Requests with the same shape run through the UNet together, at most this many (radio
    # clips of several servers too). Unset: chosen per device, 1 on CPU, 4 on CUDA unless the
    # card's memory says fewer (generation.models.default_max_batch).
    engine_max_batch: int | None = Field(default=None, ge=1, le=16)
    # Processes that post-process clips (phase reconstruction, pictures, MP3s) beside the model;
    # unset: one per core; 0 runs it all on the model's thread (the old serial path).
    engine_post_workers: int | None = Field(default=None, ge=0, le=64)
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

    # --- web companion (web/) ------------------------------------------------------------
    # Serve the radio page, gallery, /healthz and /metrics inside `riffbot run`.
    web_enabled: bool = True
    # Address to bind: loopback by default; put a reverse proxy (TLS) in front to go public.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8787, ge=0, le=65535)
    # The address people open, used in the links /web posts (e.g. https://riffbot.example).
    web_public_url: str | None = None
    # Signs the per-server links; changing it revokes every link. Unset: a random key per
    # start (links then stop working at each restart).
    web_link_secret: SecretStr | None = None
    # Requests per second per client, and the burst allowed above it.
    web_rate_per_s: float = Field(default=20.0, gt=0.0)
    web_rate_burst: int = Field(default=80, ge=1)
    # Audio streams one client address may hold open at once.
    web_max_streams_per_client: int = Field(default=2, ge=1)
    # Take the client address from X-Forwarded-For (only behind your own reverse proxy).
    web_trust_forwarded: bool = False
    # --- several bot processes (PostgreSQL; db/leases.py, bot/leases.py) ---------------
    # Discord shards in all, and the ones this process runs (e.g. [0,1]); empty: unsharded.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: list[int] | None = None
    # Seconds a job stays this process's without renewal (renewed every third of it).
    job_lease_s: float = Field(default=60.0, gt=0.0)

    # --- generation cluster (generation/fleet/, `riffbot serve`) ------------------------
    # local: the in-process engine (nothing else needed); ray: replicas on a Ray Serve cluster.
    engine: Literal["local", "ray"] = "local"
    # ray://head:10001 or auto (a node of the cluster); empty starts a local Ray for trying.
    ray_address: str | None = None
    # The Serve application's name (several bots may share a cluster under different names).
    ray_app_name: str = "riffbot"
    # GPUs per replica (one replica per GPU); empty: 1 when the cluster has GPUs, else 0.
    ray_num_gpus: float | None = Field(default=None, ge=0.0)
    # Replicas: autoscaled between min and max on ongoing requests when max > min.
    ray_min_replicas: int = Field(default=1, ge=1)
    ray_max_replicas: int = Field(default=1, ge=1)
    ray_target_ongoing_requests: float = Field(default=4.0, gt=0.0)
    # Jobs one replica accepts at once (its engine's queue; more than engine_max_batch).
    ray_max_ongoing_requests: int = Field(default=16, ge=1)
    # Tries of one job when its replica dies under it; seconds between reconnection tries.
    ray_max_attempts: int = Field(default=3, ge=1)
    ray_reconnect_s: float = Field(default=5.0, gt=0.0)

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"
