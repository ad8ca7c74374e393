"""``/web``: the bot posts this server's signed links privately, made by the web room's signer."""

from __future__ import annotations

from bot.commands.web import NOT_ENABLED
from bot.config import BotConfig
from bot.db_store import DbStore
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner
from web.links import LinkMaker, LinkSigner


async def test_web_posts_links_signed_for_this_server(
    gated_runner: GatedRunner, store: DbStore, bot_config: BotConfig
) -> None:
    signer = LinkSigner("e2e-web-link-secret-0123")
    maker = LinkMaker(signer, "https://riff.example")
    async with open_sim(gated_runner, store, bot_config, web_links=maker) as sim:
        result = await sim.alice.slash(sim.channel, "web")
        assert result.response is not None
        assert result.response.ephemeral
        text = result.response.content
        radio = text.split("Radio: <")[1].split(">")[0]
        gallery = text.split("Gallery: <")[1].split(">")[0]
        guild_id = sim.guild.id
        assert signer.verify("radio", radio.rsplit("/", 1)[1]) == guild_id
        assert signer.verify("gallery", gallery.rsplit("/", 1)[1]) == guild_id
        assert gallery.startswith("https://riff.example/g/")
        assert "e2e-web-link-secret" not in text


async def test_web_says_so_when_the_companion_is_off(sim: Sim) -> None:
    result = await sim.alice.slash(sim.channel, "web")
    assert result.response is not None
    assert result.response.content == NOT_ENABLED
