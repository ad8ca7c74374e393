"""``riffbot run``: start the Discord bot from ``.env``/environment (``DISCORD_TOKEN``).

The token is read once here and handed to discord.py only; it is a ``SecretStr`` everywhere
else, so it never reaches a log line, an error message or the database.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    token = token_of(settings)
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2

    import aiohttp
    import discord

    from db import DatabaseTooNew
    from riffbot.logs import configure_logging
    from riffbot.wiring import build_bot

    configure_logging(settings.log_level, settings.log_format)
    try:
        bot, engine, database = build_bot(settings, sync_commands=False if args.no_sync else None)
    except DatabaseTooNew as error:
        print(f"riffbot run: {error}", file=sys.stderr)
        return 1
    try:
        engine.start(preload=True)
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
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as error:
        print(
            f"riffbot run: cannot reach Discord ({type(error).__name__}); check this "
            "machine's network and DNS, then run again.",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.close()
        database.dispose()
    return 0
