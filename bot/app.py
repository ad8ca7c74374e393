"""The bot factory: ``create_bot(deps)`` wires commands, buttons and reactions to one engine.

Everything the bot talks to comes in through :class:`BotDeps`, so tests build the same bot
against a fake runner or the real engine, and other rooms (the radio) plug in through
``extensions`` without this module knowing about them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import reactions
from bot.buttons import JOB_VIEWS, BlendSelect, RiffButton
from bot.commands import register_all
from bot.config import BotConfig
from bot.dispatcher import Dispatcher, Shrinker
from bot.messages import NO_MENTIONS
from bot.posts import RawButton, WholeTrackButton
from bot.replies import reply
from bot.services import CombinePictures, DurationProbe, Services, WebLinkMaker
from bot.store import JobStore, Recovered
from bot.takes import SetButton
from generation.types import JobRunner

log = logging.getLogger(__name__)

Extension = Callable[["RiffBot"], Awaitable[None]]
"""Called in ``setup_hook`` before commands are synced: add cogs, command groups, listeners."""


@dataclass
class BotDeps:
    runner: JobRunner
    store: JobStore
    config: BotConfig
    extensions: Sequence[Extension] = ()
    rng: random.Random = field(default_factory=random.Random)
    seed_images: tuple[str, ...] = ("og_beat",)
    """The seed images offered by name; ``riffbot.wiring`` passes the shipped catalogue
    (``generation.seeds`` draws them with numpy, which the bot never imports)."""
    shrink: Shrinker | None = None
    probe: DurationProbe | None = None
    recover_on_start: bool = True
    web_links: WebLinkMaker | None = None
    combine_pictures: CombinePictures | None = None
    """Stacks a set's take pictures into one (``generation.picture.combine_takes``, which
    draws with PIL); without it a set posts take 1's picture."""


def intents() -> discord.Intents:
    """Only what is used: guilds, raw guild reactions, voice states (for the radio)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    wanted.voice_states = True
    return wanted


class RiffTree(app_commands.CommandTree["RiffBot"]):
    async def on_error(
        self, interaction: discord.Interaction[RiffBot], error: app_commands.AppCommandError
    ) -> None:
        """Always answer: a silent failure reads as "The application did not respond"."""
        if isinstance(error, app_commands.CheckFailure):
            text = "⚠️ You are not allowed to use this command here."
        else:
            log.error("command failed", exc_info=error)
            text = "⚠️ Something went wrong on our side; it has been logged. Please try again."
        try:
            await reply(interaction, text)
        except discord.HTTPException:
            log.warning("could not report a command error to the user")


class RiffBot(commands.Bot):
    def __init__(self, deps: BotDeps, **client_options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            tree_cls=RiffTree,
            help_command=None,
            **client_options,
        )
        self.deps = deps
        self.services = Services(
            runner=deps.runner,
            store=deps.store,
            config=deps.config,
            dispatcher=Dispatcher(
                deps.runner, deps.store, deps.config, views=JOB_VIEWS, shrink=deps.shrink
            ),
            rng=deps.rng,
            seed_images=deps.seed_images,
            probe=deps.probe,
            web_links=deps.web_links,
            combine_pictures=deps.combine_pictures,
        )
        self.remixer = reactions.install(self, self.services)
        self._leftovers: Recovered | None = None

    async def setup_hook(self) -> None:
        if self.deps.recover_on_start:
            # Before anything can add jobs (commands, the radio resuming on ready): only now
            # is every queued or running job in the database an orphan of the last process.
            self._leftovers = await self.services.store.recover()
        self.add_dynamic_items(RiffButton, BlendSelect, SetButton, RawButton, WholeTrackButton)
        register_all(self.tree, self.services)
        for extension in self.deps.extensions:
            await extension(self)
        if self.deps.config.sync_commands:
            await self.sync_commands()

    async def sync_commands(self) -> None:
        """Guild-scoped (instant) when a development guild is set, global otherwise."""
        guild_id = self.deps.config.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info(
            "synced %d commands (%s)", len(synced), f"guild {guild_id}" if guild_id else "global"
        )

    async def on_ready(self) -> None:
        leftovers, self._leftovers = self._leftovers, None
        if leftovers is None:
            return  # a reconnect, or recovery is off
        jobs = await self.services.dispatcher.recover(self, leftovers)
        if jobs:
            log.info("re-submitted %d unfinished job(s) after a restart", len(jobs))


class ShardedRiffBot(RiffBot, commands.AutoShardedBot):
    """The same bot over discord.py's ``AutoShardedClient``: one process, some of the shards."""


def create_bot(deps: BotDeps) -> RiffBot:
    """The bot; sharded when the config names shards (several processes share the guilds)."""
    config = deps.config
    if config.shard_count is None:
        return RiffBot(deps)
    return ShardedRiffBot(deps, shard_count=config.shard_count, shard_ids=config.shard_ids)
