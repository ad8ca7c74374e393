"""``riffbot web``: the web companion alone; ``--demo`` needs neither Discord nor a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riffbot.settings import Settings
    from web.app import WebConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "web",
        help="serve the web companion (radio page, gallery, /healthz, /metrics)",
        description="Serve the web companion without Discord: this bot's gallery from its "
        "database, or with --demo a temporary database with a few jobs and a radio on the "
        "synthetic generator (the index page links both).",
    )
    parser.add_argument(
        "--demo", action="store_true", help="temporary demo data and a synthetic radio"
    )
    parser.add_argument(
        "--demo-dir",
        type=Path,
        help="keep the demo's database and files here (reused when present) instead of a "
        "temporary folder",
    )
    parser.add_argument("--host", help="address to bind (default RIFFBOT_WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default RIFFBOT_WEB_PORT; 0: any free)")
    parser.set_defaults(func=web_command)


def web_command(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import replace

    from riffbot.wiring import web_config

    config = web_config(settings)
    config = replace(
        config,
        host=args.host or config.host,
        port=args.port if args.port is not None else config.port,
    )
    try:
        asyncio.run(_serve(args.demo, config, settings, args.demo_dir))
    except OSError as error:
        print(
            f"riffbot web: cannot listen on {config.host}:{config.port} ({error.strerror})",
            file=sys.stderr,
        )
        return 1
    return 0


async def _serve(
    demo_mode: bool, config: WebConfig, settings: Settings, demo_dir: Path | None
) -> None:
    """Serve until interrupted: the demo world, or this bot's database (gallery only).

    The configured link secret is used in both, so links survive a restart.
    """
    import asyncio

    from web.server import WebServer

    secret = settings.web_link_secret.get_secret_value() if settings.web_link_secret else ""
    if demo_mode:
        from web.demo import build_demo

        demo = await asyncio.to_thread(
            build_demo, config, directory=demo_dir, secret=secret or None
        )
        await demo.start_radio()
        deps, close = demo.deps, demo.close
    else:
        from db import Database, upgrade
        from riffbot.wiring import build_web, web_signer

        database = Database(settings.database_url)
        await asyncio.to_thread(upgrade, database.url)
        deps = build_web(settings, database, web_signer(settings), config=config)

        async def close() -> None:
            await database.aclose()
            database.dispose()

    server = WebServer(deps)
    try:
        port = await server.start()
        what = "demo" if demo_mode else "companion"
        print(f"Riffbot web {what} on http://{config.host}:{port}/ (Ctrl-C stops)", flush=True)
        await asyncio.Event().wait()
    finally:
        await server.stop()
        await close()
