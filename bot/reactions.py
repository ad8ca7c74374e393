"""Remix by reaction: an emoji on one of the bot's result posts starts a job from that post.

Raw events are used because they do not depend on the message cache, so posts from before a
restart still work; the post is recognised by its message id in the database, never by the
cache. Reactions by bots (including our own), on messages that are not result posts, and
repeats of the same emoji by the same person are ignored.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import discord
from discord.ext import commands

from bot import messages
from bot.actions import Asker, Trigger, admit_and_run, one_job
from bot.requests import BLEND, derive
from bot.scope import Scope, recent_in_scope
from bot.services import Services
from bot.store import GuildConfig, JobRecord, Status
from bot.surfaces import ChannelSurface
from generation.types import GenerationError, GenerationRequest

log = logging.getLogger(__name__)

SEEN_LIMIT = 10_000
REFUSAL_WINDOW_S = 600.0
"""A reaction has no private answer, so one person hears each reason once in this long."""
NO_PARTNER = "🔀 blends this post with your previous job, and you have none yet: try `/riff` first."


class ReactionRemixer:
    """The ``on_raw_reaction_add`` listener; one per bot."""

    def __init__(
        self,
        client: discord.Client,
        services: Services,
        *,
        refusal_window_s: float = REFUSAL_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.services = services
        self.refusal_window_s = refusal_window_s
        self.clock = clock
        self._seen: OrderedDict[tuple[int, int, str], None] = OrderedDict()
        self._refused: OrderedDict[tuple[int, str], float] = OrderedDict()

    def _should_tell(self, user_id: int, reason: str) -> bool:
        """Whether to post this refusal: once per user and reason per window, so toggling a
        reaction (or many people's reactions) cannot flood the channel with refusals."""
        now = self.clock()
        key = (user_id, reason)
        last = self._refused.get(key)
        if last is not None and now - last < self.refusal_window_s:
            return False
        self._refused[key] = now
        self._refused.move_to_end(key)
        while len(self._refused) > SEEN_LIMIT:
            self._refused.popitem(last=False)
        return True

    async def refuse(self, surface: ChannelSurface, user_id: int, reason: str) -> None:
        """``reason`` is shown as it is: escape user text before passing it."""
        if self._should_tell(user_id, reason):
            await surface.show(f"⚠️ <@{user_id}>: {reason}")

    def _ignored(self, payload: discord.RawReactionActionEvent) -> bool:
        me = self.client.user
        if me is None or payload.user_id == me.id:
            return True
        if payload.member is not None and payload.member.bot:
            return True
        author = getattr(payload, "message_author_id", None)
        return author is not None and author != me.id

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        action = messages.REACTIONS.get(str(payload.emoji))
        if action is None or self._ignored(payload):
            return
        key = (payload.user_id, payload.message_id, str(payload.emoji))
        if key in self._seen:
            return
        parent = await self.services.store.job_for_message(payload.message_id)
        scope = Scope(payload.guild_id, payload.user_id)
        if parent is None or not scope.holds(parent):
            return  # not a result post, or a post that names another server's job
        self._seen[key] = None
        while len(self._seen) > SEEN_LIMIT:  # bounded: a long-running bot must not grow forever
            self._seen.popitem(last=False)
        if await self.remix(payload, parent, action) is None:
            # Refused (a limit, a blocked word, no partner): the refusal says "try again",
            # so the same reaction must work once the reason is gone.
            self._seen.pop(key, None)

    async def _partner(self, scope: Scope, parent: JobRecord) -> JobRecord | None:
        for job in await recent_in_scope(self.services.store, scope.user_id, scope, limit=10):
            if job.id != parent.id and job.status is Status.DONE:
                return job
        return None

    async def remix(
        self, payload: discord.RawReactionActionEvent, parent: JobRecord, action: str
    ) -> JobRecord | None:
        services = self.services
        reference = discord.MessageReference(
            message_id=payload.message_id,
            channel_id=payload.channel_id,
            guild_id=payload.guild_id,
            fail_if_not_exists=False,
        )
        surface = await ChannelSurface.for_channel(
            self.client, payload.channel_id, reply_to=reference
        )
        if surface is None:
            return None
        asker = Asker(payload.user_id, payload.guild_id, payload.channel_id)
        partner = (
            await self._partner(Scope(payload.guild_id, payload.user_id), parent)
            if action == BLEND
            else None
        )
        if action == BLEND and partner is None:
            await self.refuse(surface, payload.user_id, NO_PARTNER)
            return None

        def build(config: GuildConfig) -> GenerationRequest:
            return derive(
                services.config,
                parent,
                action,
                rng=services.rng,
                partner=partner,
                blocked_words=config.blocked_words,
            )

        return await admit_and_run(
            services,
            asker,
            _ReactionAnswer(self, surface, payload.user_id),
            one_job(services, asker, build, parent=parent, partner=partner, action=action),
            trigger=Trigger("reaction", str(payload.emoji), payload.message_id, parent.id),
        )


class _ReactionAnswer:
    """No interaction to defer and no private replies: refusals go to the channel, briefly
    and without pinging, at most once per person and reason (``ReactionRemixer.refuse``)."""

    def __init__(self, remixer: ReactionRemixer, surface: ChannelSurface, user_id: int) -> None:
        self.remixer = remixer
        self.surface = surface
        self.user_id = user_id

    async def acknowledge(self) -> None:
        return None

    async def refuse(self, error: GenerationError) -> None:
        await self.remixer.refuse(self.surface, self.user_id, messages.safe(str(error), 300))


def install(bot: commands.Bot, services: Services) -> ReactionRemixer:
    remixer = ReactionRemixer(bot, services)
    bot.add_listener(remixer.on_raw_reaction_add, "on_raw_reaction_add")
    return remixer
