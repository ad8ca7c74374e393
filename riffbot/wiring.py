"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import RiffBot
    from db import Database
    from generation.engine import Engine
    from generation.models import LoadedModel
    from generation.results import GenerationResult
    from generation.workers import PostPool
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


def max_batch_for(settings: Settings) -> int:
    """The configured batch limit, or the device's default; a device that is not there is
    the model loader's error to report (in the worker, to the job), so it counts as CPU."""
    if settings.engine_max_batch is not None:
        return settings.engine_max_batch
    from generation.models import default_max_batch, resolve_device
    from generation.types import ModelError

    try:
        return default_max_batch(resolve_device(settings.device))
    except ModelError:
        return 1


def post_pool_for(settings: Settings) -> PostPool | None:
    """The post-processing pool the settings ask for (its processes start on first use)."""
    from generation.workers import PostPool

    workers = settings.engine_post_workers
    return None if workers == 0 else PostPool(workers)


def build_engine(
    settings: Settings, *, post_pool: PostPool | None = None
) -> Engine[LoadedModel, GenerationResult]:
    """The one engine the bot and the radio share; the model loads in its worker thread.
    ``post_pool`` (default: the settings' own) does the post-processing, and the engine
    closes it when it closes."""
    from generation.engine import pipeline_engine

    return pipeline_engine(
        lambda: load_model_from_settings(settings, progress=False),
        max_audio_seconds=settings.max_audio_seconds,
        max_prompt_chars=settings.max_prompt_chars,
        post_workers=settings.engine_post_workers,
        post_pool=post_pool or post_pool_for(settings),
        max_batch=max_batch_for(settings),
        max_queued=settings.max_queue_length,
        max_per_owner=settings.max_active_jobs_per_user,
        max_per_radio_owner=settings.engine_max_radio_jobs_per_guild,
        radio_every=settings.engine_radio_every,
        progress_interval_s=settings.engine_progress_interval_s,
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

    from bot.app import BotDeps, create_bot, default_seed_images
    from bot.config import BotConfig
    from bot.db_store import DbStore
    from bot.media import FfmpegShrinker, probe_duration
    from bot.radio import DbRadioStore, RadioConfig, RadioDeps, radio_extension
    from db import Database
    from generation.outputs import write_outputs
    from generation.radio import pcm_to_mp3, station_factory

    database = Database(settings.database_url)
    try:
        database.upgrade()
    except BaseException:
        database.dispose()
        raise
    pool = post_pool_for(settings)
    engine = build_engine(settings, post_pool=pool)
    seed_images = default_seed_images()
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
    )
    config = BotConfig.from_settings(settings)
    if sync_commands is not None:
        config = replace(config, sync_commands=sync_commands)
    radio = radio_extension(
        RadioDeps(
            make_station=station_factory(
                engine,
                out_dir=settings.outputs_dir / "radio",
                ahead=settings.radio_ahead,
                crossfade_s=settings.radio_crossfade_s,
                write=None if pool is None else partial(pool.run, write_outputs),
            ),
            store=DbRadioStore(database),
            jobs=store,
            encode_mp3=pcm_to_mp3,
            config=RadioConfig.from_settings(settings),
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
        )
    )
    return bot, engine, database
