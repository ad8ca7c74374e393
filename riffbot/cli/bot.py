"""``riffbot run``: start the Discord bot from ``.env``/environment (``DISCORD_TOKEN``).

The token is read once here and handed to discord.py only; it is a ``SecretStr`` everywhere
else, so it never reaches a log line, an error message or the database.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from riffbot.cli.errors import RUNTIME, USAGE, fail, line, report

if TYPE_CHECKING:
    from db.lock import ProcessLock
    from riffbot.settings import Settings

NO_TOKEN = (
    line("no Discord token.")
    + """
  1. Create a bot at https://discord.com/developers/applications (Bot -> Reset Token).
  2. Put it in .env as DISCORD_TOKEN=... (copy .env.example), or export DISCORD_TOKEN.
  3. Invite the bot with the applications.commands and bot scopes, then run again.
  Tip: set RIFFBOT_DEV_GUILD_ID to your test server for instant command updates."""
)


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


def preflight(settings: Settings) -> ProcessLock | None:
    """Everything that would otherwise fail only after logging in, checked before it: the
    model source (a bot that cannot load its model would fail every job in public) and that
    no other process runs on this SQLite database. Returns the lock, held until exit."""
    from db.lock import DatabaseInUse, hold_sqlite_lock
    from generation.models import check_source
    from generation.types import ModelError

    try:
        check_source(
            settings.model, revision=settings.model_revision, cache_dir=settings.model_cache_dir
        )
    except ModelError as error:
        fail(f"RIFFBOT_MODEL: {error}", code=USAGE)
    try:
        return hold_sqlite_lock(settings.database_url)
    except DatabaseInUse as error:
        fail(str(error), code=RUNTIME)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    token = token_of(settings)
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2

    from riffbot.cli.db import open_database
    from riffbot.logs import configure_logging
    from riffbot.wiring import build_bot

    lock = preflight(settings)
    try:
        open_database(settings).dispose()  # a corrupt or newer database: one line, not a crash
        configure_logging(settings.log_level, settings.log_format)
        bot, engine, database = build_bot(settings, sync_commands=False if args.no_sync else None)
        return _serve(bot, engine, database, token)
    finally:
        if lock is not None:
            lock.release()


def _serve(bot: Any, engine: Any, database: Any, token: str) -> int:
    import aiohttp
    import discord

    try:
        engine.start(preload=True)
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        return report(
            "Discord refused the token in DISCORD_TOKEN; reset it in the developer portal "
            "and update .env.",
            RUNTIME,
        )
    except discord.PrivilegedIntentsRequired:
        return report("Discord refused the requested intents.", RUNTIME)
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as error:
        return report(
            f"cannot reach Discord ({type(error).__name__}); check this machine's network "
            "and DNS, then run again.",
            RUNTIME,
        )
    finally:
        engine.close()
        database.dispose()
    return 0
