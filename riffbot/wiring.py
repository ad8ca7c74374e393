"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import Extension, RiffBot
    from bot.config import BotConfig
    from bot.radio.deps import RadioConfig
    from db import Database
    from db.leases import Claim
    from generation.engine import Engine
    from generation.fleet.runner import FleetRunner
    from generation.loudness import LoudnessPolicy
    from generation.models import LoadedModel
    from generation.results import GenerationResult
    from generation.workers import PostPool
    from riffbot.settings import Settings
    from web.app import HealthChecks, WebConfig, WebDeps
    from web.links import LinkMaker, LinkSigner
    from web.radio_feed import RadioSource


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


def loudness_policy(settings: Settings) -> LoudnessPolicy:
    """The one finishing policy, at the configured target (clips, radio, the CLI)."""
    from generation.loudness import LoudnessPolicy

    return LoudnessPolicy(target_lufs=settings.loudness_target_lufs)


def max_batch_for(settings: Settings) -> int:
    """The configured batch limit, or the device's default; a device that is not there is
    the model loader's error to report (in the worker, to the job), so it counts as CPU."""
    if settings.engine_max_batch is not None:
        return settings.engine_max_batch
    from generation.model_device import default_max_batch, resolve_device
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
    from generation.pipeline_engine import pipeline_engine

    return pipeline_engine(
        lambda: load_model_from_settings(settings, progress=False),
        max_audio_seconds=settings.max_audio_seconds,
        max_prompt_chars=settings.max_prompt_chars,
        loudness=loudness_policy(settings),
        post_workers=settings.engine_post_workers,
        post_pool=post_pool or post_pool_for(settings),
        max_batch=max_batch_for(settings),
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
        shard_count=settings.shard_count,
        shard_ids=settings.shard_ids,
    )


def model_display_name(model: str) -> str:
    """The model as posts name it: a hub id as is, a local file or folder by its name only
    (a server's paths are nobody's business)."""
    from pathlib import Path

    path = Path(model).expanduser()
    return path.name if path.exists() else model


def radio_config(settings: Settings) -> RadioConfig:
    """The radio's rules and clip settings from settings."""
    from bot.radio.deps import RadioConfig
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


def build_runner(
    settings: Settings, *, post_pool: PostPool | None = None
) -> Engine[LoadedModel, GenerationResult] | FleetRunner:
    """The in-process engine (``RIFFBOT_ENGINE=local``) or the Ray Serve fleet's runner
    (whose replicas post-process in pools of their own)."""
    if settings.engine == "ray":
        from riffbot.fleet import build_fleet_runner

        return build_fleet_runner(settings, build_engine)
    return build_engine(settings, post_pool=post_pool)


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

    from bot.app import BotDeps, create_bot
    from bot.db_store import DbStore
    from bot.media import FfmpegShrinker, probe_duration
    from bot.radio.cog import radio_extension
    from bot.radio.deps import RadioDeps
    from bot.radio.store import DbRadioStore
    from db import Database, upgrade
    from generation.outputs import write_outputs
    from generation.picture import combine_takes
    from generation.radio import pcm_to_mp3, station_factory
    from generation.seeds import SEED_IMAGE_NAMES

    database = Database(settings.database_url)
    try:
        upgrade(database.url)
    except BaseException:
        database.dispose()
        raise
    pool = post_pool_for(settings) if settings.engine == "local" else None
    engine = build_runner(settings, post_pool=pool)
    seed_images = SEED_IMAGE_NAMES
    claim = job_claim(settings)
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
        claim=claim,
    )
    config = bot_config(settings)
    signer = web_signer(settings) if settings.web_enabled else None
    if sync_commands is not None:
        config = replace(config, sync_commands=sync_commands)
    links = link_maker(settings, signer) if signer is not None else None
    radio = radio_extension(
        RadioDeps(
            make_station=station_factory(
                engine,
                out_dir=settings.outputs_dir / "radio",
                ahead=settings.radio_ahead,
                crossfade_s=settings.radio_crossfade_s,
                loudness=loudness_policy(settings),
                write=partial(
                    write_outputs if pool is None else partial(pool.run, write_outputs),
                    loudness=loudness_policy(settings),
                ),
            ),
            store=DbRadioStore(database),
            jobs=store,
            encode_mp3=pcm_to_mp3,
            config=radio_config(settings),
            radio_page=(lambda guild_id: links(guild_id).radio) if links is not None else None,
        )
    )
    extensions = [radio]
    if signer is not None:
        extensions.append(web_extension(settings, database, engine, signer))
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
            web_links=links,
            combine_pictures=combine_takes,
        )
    )
    return bot, engine, database


# --- web companion -------------------------------------------------------------------


def web_config(settings: Settings) -> WebConfig:
    from web.app import WebConfig

    return WebConfig(
        host=settings.web_host,
        port=settings.web_port,
        rate_per_s=settings.web_rate_per_s,
        rate_burst=settings.web_rate_burst,
        max_streams_per_client=settings.web_max_streams_per_client,
        trust_forwarded=settings.web_trust_forwarded,
    )


def web_signer(settings: Settings) -> LinkSigner:
    """The link signer; without a configured secret, a random one for this process only."""
    import logging
    import secrets

    from web.links import LinkSigner

    secret = settings.web_link_secret.get_secret_value() if settings.web_link_secret else ""
    if not secret:
        logging.getLogger(__name__).warning(
            "RIFFBOT_WEB_LINK_SECRET is not set: web links change at every restart"
        )
        secret = secrets.token_urlsafe(32)
    return LinkSigner(secret)


def link_maker(settings: Settings, signer: LinkSigner) -> LinkMaker:
    from web.links import LinkMaker

    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    base = settings.web_public_url or f"http://{host}:{settings.web_port}"
    return LinkMaker(signer, base)


def build_web(
    settings: Settings,
    database: Database,
    signer: LinkSigner,
    *,
    radios: RadioSource | None = None,
    health: HealthChecks | None = None,
    config: WebConfig | None = None,
) -> WebDeps:
    from web.app import HealthChecks, WebDeps

    return WebDeps(
        database=database,
        data_dir=settings.data_dir,
        signer=signer,
        config=config or web_config(settings),
        radios=radios,
        health=health or HealthChecks(),
    )


class BotRadios:
    """The web's port onto the bot's radios: the radio cog's controller, once it has loaded."""

    def __init__(self, bot: RiffBot) -> None:
        self._bot = bot

    def _radios(self) -> dict[int, Any]:
        from bot.radio.cog import RadioCog

        cog = self._bot.get_cog("radio")
        return dict(cog.controller.radios) if isinstance(cog, RadioCog) else {}

    def station(self, guild_id: int) -> Any:
        radio = self._radios().get(guild_id)
        return radio.station if radio is not None else None

    def stations(self) -> dict[int, Any]:
        return {guild_id: radio.station for guild_id, radio in self._radios().items()}


def web_extension(
    settings: Settings, database: Database, engine: Any, signer: LinkSigner
) -> Extension:
    """Serve the web companion on the bot's own event loop; it stops when the bot closes.

    A port already taken is logged, not fatal: the bot works without its web pages.
    """
    import logging
    import math

    from discord.ext import commands

    from web.app import HealthChecks
    from web.server import WebServer

    log = logging.getLogger(__name__)

    class WebCog(commands.Cog):
        def __init__(self, server: WebServer) -> None:
            self.server = server

        async def cog_unload(self) -> None:
            await self.server.stop()

    async def install(bot: RiffBot) -> None:
        health = HealthChecks(
            engine_alive=lambda: _engine_alive(engine),
            # latency is NaN without a gateway and infinite before the first heartbeat.
            discord_connected=lambda: (
                bot.is_ready() and not bot.is_closed() and math.isfinite(bot.latency)
            ),
        )
        server = WebServer(
            build_web(settings, database, signer, radios=BotRadios(bot), health=health)
        )
        try:
            port = await server.start()
        except OSError as error:
            await server.stop()
            log.error(
                "web companion not started: cannot listen on %s:%d (%s)",
                settings.web_host,
                settings.web_port,
                error.strerror,
            )
            return
        log.info("web companion on %s:%d", settings.web_host, port)
        await bot.add_cog(WebCog(server))

    return install


def _engine_alive(engine: Any) -> bool:
    """The engine's worker thread runs (the engine has no public flag for it yet)."""
    thread = getattr(engine, "_thread", None)
    return thread is not None and thread.is_alive()
