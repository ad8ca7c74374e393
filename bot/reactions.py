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
from bot.actions import guild_config
from bot.requests import BLEND, derive
from bot.scope import Scope, recent_in_scope
from bot.services import Services
from bot.store import JobRecord, Status
from bot.surfaces import ChannelSurface
from generation.types import GenerationError

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

    async def _refuse(self, surface: ChannelSurface, user_id: int, reason: str) -> None:
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
        channel = self.client.get_channel(payload.channel_id)
        if channel is None:
            channel = await self.client.fetch_channel(payload.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        reference = discord.MessageReference(
            message_id=payload.message_id,
            channel_id=payload.channel_id,
            guild_id=payload.guild_id,
            fail_if_not_exists=False,
        )
        guild = getattr(channel, "guild", None)
        surface = ChannelSurface(
            channel,
            reply_to=reference,
            filesize_limit=guild.filesize_limit if guild is not None else 10 * 2**20,
        )
        config = await guild_config(services, payload.guild_id)
        partner = (
            await self._partner(Scope(payload.guild_id, payload.user_id), parent)
            if action == BLEND
            else None
        )
        if action == BLEND and partner is None:
            await self._refuse(surface, payload.user_id, NO_PARTNER)
            return None
        try:
            request = derive(
                services.config,
                parent,
                action,
                rng=services.rng,
                partner=partner,
                blocked_words=config.blocked_words,
            )
            job = await services.dispatcher.admit(
                request,
                user_id=payload.user_id,
                guild_id=payload.guild_id,
                channel_id=payload.channel_id,
                guild_config=config,
                parent_id=parent.id,
                partner_id=partner.id if partner is not None else None,
                action=action,
            )
        except GenerationError as error:
            # No ephemeral replies exist for reactions: answer briefly, without pinging.
            await self._refuse(surface, payload.user_id, messages.safe(str(error), 300))
            return None
        await services.store.record_trigger(
            source="reaction",
            key=str(payload.emoji),
            message_id=payload.message_id,
            channel_id=payload.channel_id,
            guild_id=payload.guild_id,
            user_id=payload.user_id,
            source_job_id=parent.id,
            job_id=job.id,
        )
        return await services.dispatcher.run(job, surface)


def install(bot: commands.Bot, services: Services) -> ReactionRemixer:
    remixer = ReactionRemixer(bot, services)
    bot.add_listener(remixer.on_raw_reaction_add, "on_raw_reaction_add")
    return remixer
