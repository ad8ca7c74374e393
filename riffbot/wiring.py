"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import RiffBot
    from bot.config import BotConfig
    from bot.radio.controller import RadioConfig
    from db import Database
    from generation.engine import Engine
    from generation.models import LoadedModel
    from generation.results import GenerationResult
    from riffbot.settings import Settings


def load_model_from_settings(
    settings: Settings,
    *,
    source: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> LoadedModel:
    """The model the settings name, or ``source``/``device`` where a command overrides them."""
    from generation.models import load_model

    return load_model(
        source or settings.model,
        device=device or settings.device,
        dtype=settings.dtype,
        revision=settings.model_revision,
        cache_dir=settings.model_cache_dir,
        compile=settings.compile,
        progress=progress,
    )


def build_engine(settings: Settings) -> Engine[LoadedModel, GenerationResult]:
    """The one engine the bot and the radio share; the model loads in its worker thread."""
    from generation.engine import pipeline_engine

    return pipeline_engine(
        lambda: load_model_from_settings(settings, progress=False),
        max_audio_seconds=settings.max_audio_seconds,
        max_prompt_chars=settings.max_prompt_chars,
        max_batch=settings.engine_max_batch,
        max_queued=settings.max_queue_length,
        max_per_owner=settings.max_active_jobs_per_user,
        max_per_radio_owner=settings.engine_max_radio_jobs_per_guild,
        radio_every=settings.engine_radio_every,
        progress_interval_s=settings.engine_progress_interval_s,
    )


def bot_config(settings: Settings) -> BotConfig:
    """The bot's knobs from settings (the bot itself never reads settings)."""
    from bot.config import BotConfig

    return BotConfig(
        out_dir=settings.outputs_dir,
        max_prompt_chars=settings.max_prompt_chars,
        default_steps=settings.default_steps,
        default_strength=settings.default_strength,
        default_guidance=settings.default_guidance,
        default_scheduler=settings.default_scheduler,
        default_seed_image=settings.default_seed_image or None,
        default_takes=settings.default_takes,
        model_name=model_display_name(settings.model),
        max_active_per_user=settings.max_active_jobs_per_user,
        max_queue_length=settings.max_queue_length,
        max_upload_bytes=settings.max_upload_bytes,
        max_audio_seconds=settings.max_audio_seconds,
        progress_interval_s=settings.bot_progress_interval_s,
        dev_guild_id=settings.dev_guild_id,
        sync_commands=settings.bot_sync_commands,
    )


def model_display_name(model: str) -> str:
    """The model as posts name it: a hub id as is, a local file or folder by its name only
    (a server's paths are nobody's business)."""
    from pathlib import Path

    path = Path(model).expanduser()
    return path.name if path.exists() else model


def radio_config(settings: Settings) -> RadioConfig:
    """The radio's rules and clip settings from settings."""
    from bot.radio.controller import RadioConfig
    from bot.voice import WatchdogConfig
    from generation.radio_plan import RadioSettings

    return RadioConfig(
        settings=RadioSettings(
            strength=settings.default_strength,
            guidance=settings.default_guidance,
            steps=settings.default_steps,
            seed_image=settings.default_seed_image,
            scheduler=settings.default_scheduler,
        ),
        prompt_cooldown_s=settings.radio_prompt_cooldown_s,
        save_seconds=settings.radio_save_seconds,
        watchdog=WatchdogConfig(
            stall_s=settings.radio_stall_s, empty_leave_s=settings.radio_empty_leave_s
        ),
        bitrate_kbps=settings.radio_bitrate_kbps,
    )


def build_bot(
    settings: Settings, *, sync_commands: bool | None = None
) -> tuple[RiffBot, Engine[LoadedModel, GenerationResult], Database]:
    """What ``riffbot run`` starts: the bot, its engine and its migrated database.

    Nothing is started: no login, no model load, no worker thread; the caller starts the
    engine and runs the bot, and closes both. That keeps this testable from ``Settings``
    alone. ``sync_commands`` overrides ``RIFFBOT_BOT_SYNC_COMMANDS``. Raises
    ``db.DatabaseTooNew`` (after releasing the database) if a newer Riffbot migrated it.
    """
    from dataclasses import replace

    from bot.app import BotDeps, create_bot
    from bot.db_store import DbStore
    from bot.media import FfmpegShrinker, probe_duration
    from bot.radio.cog import radio_extension
    from bot.radio.controller import RadioDeps
    from bot.radio.store import DbRadioStore
    from db import Database, upgrade
    from generation.picture import combine_takes
    from generation.radio import pcm_to_mp3, station_factory
    from generation.seeds import SEED_IMAGE_NAMES

    database = Database(settings.database_url)
    try:
        upgrade(database.url)
    except BaseException:
        database.dispose()
        raise
    engine = build_engine(settings)
    seed_images = SEED_IMAGE_NAMES
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
    )
    config = bot_config(settings)
    if sync_commands is not None:
        config = replace(config, sync_commands=sync_commands)
    radio = radio_extension(
        RadioDeps(
            make_station=station_factory(
                engine,
                out_dir=settings.outputs_dir / "radio",
                ahead=settings.radio_ahead,
                crossfade_s=settings.radio_crossfade_s,
            ),
            store=DbRadioStore(database),
            jobs=store,
            encode_mp3=pcm_to_mp3,
            config=radio_config(settings),
        )
    )
    bot = create_bot(
        BotDeps(
            runner=engine,
            store=store,
            config=config,
            seed_images=seed_images,
            shrink=FfmpegShrinker(),
            probe=probe_duration,
            extensions=[radio],
            combine_pictures=combine_takes,
        )
    )
    return bot, engine, database
