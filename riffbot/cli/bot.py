"""``riffbot run``: start the Discord bot from ``.env``/environment (``DISCORD_TOKEN``).

The token is read once here and handed to discord.py only; it is a ``SecretStr`` everywhere
else, so it never reaches a log line, an error message or the database.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import Extension
    from riffbot.settings import Settings

NO_TOKEN = """\
riffbot run: no Discord token.
  1. Create a bot at https://discord.com/developers/applications (Bot -> Reset Token).
  2. Put it in .env as DISCORD_TOKEN=... (copy .env.example), or export DISCORD_TOKEN.
  3. Invite the bot with the applications.commands and bot scopes, then run again.
  Tip: set RIFFBOT_DEV_GUILD_ID to your test server for instant command updates."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="start the Discord bot (needs DISCORD_TOKEN)",
        description="Start the Discord bot. Commands are synced to RIFFBOT_DEV_GUILD_ID when "
        "set (instant, for development), otherwise globally.",
    )
    parser.add_argument(
        "--no-sync", action="store_true", help="do not sync slash commands on start"
    )
    parser.set_defaults(func=run_command)


def token_of(settings: Settings) -> str | None:
    secret = settings.discord_token
    value = secret.get_secret_value().strip() if secret is not None else ""
    return value or None


def radio_extensions(settings: Settings, **parts: Any) -> list[Extension]:
    """Extensions from other rooms (the radio) that ``riffbot run`` installs.

    The radio room provides its wiring as ``bot.radio.extension_from_settings(settings,
    **parts)``; until it exists the bot runs without ``/radio``.
    """
    try:
        from bot import radio
    except ImportError:
        return []
    factory = getattr(radio, "extension_from_settings", None)
    return [factory(settings, **parts)] if factory is not None else []


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    token = token_of(settings)
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2

    import logging
    from dataclasses import replace

    import discord

    from bot.app import BotDeps, create_bot, default_seed_images
    from bot.config import BotConfig
    from bot.db_store import DbStore
    from bot.media import FfmpegShrinker, probe_duration
    from db import Database, DatabaseTooNew
    from generation.engine import pipeline_engine
    from generation.models import load_model

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    database = Database(settings.database_url)
    try:
        database.upgrade()
    except DatabaseTooNew as error:
        print(f"riffbot run: {error}", file=sys.stderr)
        return 1

    def loader() -> Any:
        return load_model(
            settings.model,
            device=settings.device,
            dtype=settings.dtype,
            revision=settings.model_revision,
            cache_dir=settings.model_cache_dir,
            compile=settings.compile,
            progress=False,
        )

    engine = pipeline_engine(
        loader,
        max_audio_seconds=settings.max_audio_seconds,
        max_queued=settings.max_queue_length,
        max_per_owner=settings.max_active_jobs_per_user,
    )
    engine.start(preload=True)
    seed_images = default_seed_images()
    store = DbStore(
        database,
        data_dir=settings.data_dir,
        model_id=settings.model,
        model_revision=settings.model_revision,
        shipped_seed_images=seed_images,
    )
    config = BotConfig.from_settings(settings)
    if args.no_sync:
        config = replace(config, sync_commands=False)
    deps = BotDeps(
        runner=engine,
        store=store,
        config=config,
        seed_images=seed_images,
        shrink=FfmpegShrinker(),
        probe=probe_duration,
        extensions=radio_extensions(settings, engine=engine, database=database, store=store),
    )
    bot = create_bot(deps)
    try:
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        print(
            "riffbot run: Discord refused the token in DISCORD_TOKEN; reset it in the "
            "developer portal and update .env.",
            file=sys.stderr,
        )
        return 1
    except discord.PrivilegedIntentsRequired:
        print("riffbot run: Discord refused the requested intents.", file=sys.stderr)
        return 1
    finally:
        engine.close()
        database.dispose()
    return 0
