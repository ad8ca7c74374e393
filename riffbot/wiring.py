"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import RiffBot
    from db import Database
    from db.leases import Claim
    from generation.engine import Engine
    from generation.fleet.runner import FleetRunner
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


def build_runner(settings: Settings) -> Engine[LoadedModel, GenerationResult] | FleetRunner:
    """The in-process engine (``RIFFBOT_ENGINE=local``) or the Ray Serve fleet's runner."""
    if settings.engine == "ray":
        from riffbot.fleet import build_fleet_runner

        return build_fleet_runner(settings, build_engine)
    return build_engine(settings)


def job_claim(settings: Settings) -> Claim | None:
    """Leases for several processes on one PostgreSQL; ``None`` on SQLite (one process, and
    restart recovery takes everything at once, as it always did)."""
    from db.engine import is_sqlite
    from db.leases import Claim, Shards, process_owner

    if is_sqlite(settings.database_url):
        return None
    shards = None
    if settings.shard_count is not None:
        ids = settings.shard_ids or list(range(settings.shard_count))
        shards = Shards(settings.shard_count, ids)
    return Claim(process_owner(), lease_s=settings.job_lease_s, shards=shards)


def build_bot(
    settings: Settings, *, sync_commands: bool | None = None
) -> tuple[RiffBot, Engine[LoadedModel, GenerationResult] | FleetRunner, Database]:
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
    from generation.radio import pcm_to_mp3, station_factory

    database = Database(settings.database_url)
    try:
        database.upgrade()
    except BaseException:
        database.dispose()
        raise
    engine = build_runner(settings)
    seed_images = default_seed_images()
    claim = job_claim(settings)
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
        claim=claim,
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
            ),
            store=DbRadioStore(database),
            jobs=store,
            encode_mp3=pcm_to_mp3,
            config=RadioConfig.from_settings(settings),
        )
    )
    extensions = [radio]
    if claim is not None:
        from bot.leases import lease_keeper

        extensions.append(lease_keeper(store, period_s=claim.lease_s / 3))
    bot = create_bot(
        BotDeps(
            runner=engine,
            store=store,
            config=config,
            seed_images=seed_images,
            shrink=FfmpegShrinker(),
            probe=probe_duration,
            extensions=extensions,
        )
    )
    return bot, engine, database
