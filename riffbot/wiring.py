"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import Extension, RiffBot
    from db import Database
    from generation.engine import Engine
    from generation.models import LoadedModel
    from generation.results import GenerationResult
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
    from generation.radio import pcm_to_mp3, station_factory

    database = Database(settings.database_url)
    try:
        database.upgrade()
    except BaseException:
        database.dispose()
        raise
    engine = build_engine(settings)
    seed_images = default_seed_images()
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
    )
    config = BotConfig.from_settings(settings)
    web_enabled = settings.web_enabled
    signer = web_signer(settings) if web_enabled else None
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
    if signer is not None:
        extensions.append(web_extension(settings, database, engine, signer))
    bot = create_bot(
        BotDeps(
            runner=engine,
            store=store,
            config=config,
            seed_images=seed_images,
            shrink=FfmpegShrinker(),
            probe=probe_duration,
            extensions=extensions,
            web_links=link_maker(settings, signer) if signer is not None else None,
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
    """The web's port onto the bot's radios (``bot.radio`` is set when the radio cog loads)."""

    def __init__(self, bot: RiffBot) -> None:
        self._bot = bot

    def _radios(self) -> dict[int, Any]:
        controller = getattr(self._bot, "radio", None)
        return getattr(controller, "radios", {}) if controller is not None else {}

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
