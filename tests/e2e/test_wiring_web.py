"""``riffbot run`` serves the web companion on the bot's own loop, and stops it on close."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from riffbot.settings import Settings
from riffbot.wiring import build_bot
from web.links import LinkSigner

SECRET = "wiring-web-link-secret-0123456789"


async def test_the_bot_serves_health_and_links_that_its_web_server_accepts(
    tmp_path: Path,
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'riffbot.db'}",
        web_port=0,
        web_link_secret=SECRET,
        web_public_url="https://riff.example",
    )
    bot, engine, database = build_bot(settings, sync_commands=False)
    try:
        await bot.setup_hook()
        assert "web" in {command.name for command in bot.tree.get_commands()}
        cog = bot.get_cog("WebCog")
        assert cog is not None
        port = cog.server.port  # type: ignore[attr-defined]
        assert bot.services.web_links is not None
        links = bot.services.web_links(1234)
        assert links.gallery.startswith("https://riff.example/g/")
        token = links.gallery.rsplit("/", 1)[1]
        assert LinkSigner(SECRET).verify("gallery", token) == 1234
        async with aiohttp.ClientSession() as http:
            health = await http.get(f"http://127.0.0.1:{port}/healthz")
            body = await health.json()
            # Not logged in and the engine not started: reported, with a 503.
            assert health.status == 503
            assert body["checks"] == {"database": True, "engine": False, "discord": False}
            gallery = await http.get(f"http://127.0.0.1:{port}/g/{token}")
            assert gallery.status == 200
    finally:
        await bot.close()
        await engine.aclose()
        await database.aclose()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{port}/healthz")
