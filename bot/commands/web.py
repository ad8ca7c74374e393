"""``/web``: this server's web companion links (radio page and gallery), privately.

The links are signed for this server by the web room; the bot only receives the function
that makes them, never the key.
"""

from typing import Any

import discord
from discord import app_commands

from bot.replies import reply
from bot.services import Services

NOT_ENABLED = "The web companion is not enabled on this bot."
GUILD_ONLY = "Use /web in a server: the pages show that server's music."


def links_text(radio: str, gallery: str) -> str:
    return (
        "🌐 This server's web pages (anyone with a link can open it; a new link secret "
        f"revokes them):\n📻 Radio: <{radio}>\n🖼️ Gallery: <{gallery}>"
    )


def register(tree: app_commands.CommandTree, services: Services) -> None:
    @tree.command(name="web", description="Links to this server's radio page and gallery")
    async def web(interaction: discord.Interaction[Any]) -> None:
        if services.web_links is None:
            await reply(interaction, NOT_ENABLED)
            return
        if interaction.guild_id is None:
            await reply(interaction, GUILD_ONLY)
            return
        links = services.web_links(interaction.guild_id)
        await reply(interaction, links_text(links.radio, links.gallery))
