"""Where a job's one status message lives: an interaction's response, or a plain channel message.

A job started by a slash command or a button edits its interaction response; the token dies
after 15 minutes, so a long wait falls back to posting in the channel. A job started by a
reaction (or recovered after a restart) has no interaction at all and posts a reply.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import discord

from bot.fit import CONTENT, clip
from bot.messages import NO_MENTIONS

log = logging.getLogger(__name__)

DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024
"""Discord's upload floor for bots since January 2025; used when nothing better is known."""

# Error codes that mean "this interaction token can no longer be used".
_DEAD_TOKEN_CODES = frozenset({10015, 10062, 50027})


class Upload:
    """A file to attach: built into a fresh ``discord.File`` for every send (they are one-shot)."""

    def __init__(self, filename: str, *, path: Path | None = None, data: bytes | None = None):
        self.filename = filename
        self.path = path
        self.data = data

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        return self.path.stat().st_size if self.path is not None else 0

    def to_file(self) -> discord.File:
        if self.data is not None:
            import io

            return discord.File(io.BytesIO(self.data), filename=self.filename)
        assert self.path is not None
        return discord.File(self.path, filename=self.filename)


class Surface(Protocol):
    filesize_limit: int

    async def show(
        self,
        content: str,
        *,
        uploads: Sequence[Upload] = (),
        view: discord.ui.View | None = None,
        embeds: Sequence[discord.Embed] = (),
    ) -> discord.Message | None:
        """Replace the message's text, files, embeds and buttons; returns it when known."""
        ...


class ChannelSurface:
    """A message the bot sends itself (optionally as a reply) and then keeps editing."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        *,
        reply_to: discord.MessageReference | None = None,
        filesize_limit: int = DEFAULT_FILESIZE_LIMIT,
        message: discord.Message | discord.PartialMessage | None = None,
    ) -> None:
        self.channel = channel
        self.reply_to = reply_to
        self.filesize_limit = filesize_limit
        self.message = message

    @classmethod
    async def for_channel(
        cls,
        client: discord.Client,
        channel_id: int,
        *,
        reply_to: discord.MessageReference | None = None,
        message_id: int | None = None,
    ) -> ChannelSurface | None:
        """The channel (fetched when not cached) at its server's upload limit, or ``None``
        when it is gone or cannot hold messages.

        ``message_id`` names a message of ours to keep editing (a job's status from before a
        restart becomes its result).
        """
        channel: Any = client.get_channel(channel_id)
        if channel is None:
            with contextlib.suppress(discord.HTTPException):
                channel = await client.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        message = (
            channel.get_partial_message(message_id)
            if message_id is not None and hasattr(channel, "get_partial_message")
            else None
        )
        guild = getattr(channel, "guild", None)
        limit = guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT
        return cls(channel, reply_to=reply_to, filesize_limit=limit, message=message)

    async def show(
        self,
        content: str,
        *,
        uploads: Sequence[Upload] = (),
        view: discord.ui.View | None = None,
        embeds: Sequence[discord.Embed] = (),
    ) -> discord.Message | None:
        files = [upload.to_file() for upload in uploads]
        content = clip(content, CONTENT)
        if self.message is not None:
            try:
                self.message = await self.message.edit(
                    content=content,
                    attachments=files,
                    embeds=list(embeds),
                    view=view,
                    allowed_mentions=NO_MENTIONS,
                )
                return self.message
            except discord.NotFound:
                log.info("status message %s is gone; posting a new one", self.message.id)
                self.message = None
                files = [upload.to_file() for upload in uploads]  # a File is read once
        if self.message is None:
            extra: dict[str, Any] = {"embeds": list(embeds)}
            if view is not None:
                extra["view"] = view
            if self.reply_to is not None:
                extra["reference"] = self.reply_to
            self.message = await self.channel.send(
                content, files=files, mention_author=False, allowed_mentions=NO_MENTIONS, **extra
            )
        return self.message


class RememberedSurface:
    """Tells ``remember`` where the job's status message is, each time it moves (first
    shown, or reposted in the channel when the interaction token died), so that a restarted
    bot edits the same message instead of posting a second one."""

    def __init__(self, inner: Surface, remember: Callable[[int, int], Awaitable[None]]) -> None:
        self.inner = inner
        self.filesize_limit = inner.filesize_limit
        self._remember = remember
        self._where: tuple[int, int] | None = None

    async def show(
        self,
        content: str,
        *,
        uploads: Sequence[Upload] = (),
        view: discord.ui.View | None = None,
        embeds: Sequence[discord.Embed] = (),
    ) -> discord.Message | None:
        message = await self.inner.show(content, uploads=uploads, view=view, embeds=embeds)
        if message is not None and (message.channel.id, message.id) != self._where:
            self._where = (message.channel.id, message.id)
            try:
                await self._remember(*self._where)
            except Exception:
                log.exception("could not remember status message %s", message.id)
        return message


class InteractionSurface:
    """The deferred response of an interaction, falling back to the channel once it expires."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.filesize_limit = interaction.filesize_limit
        self.fallback: ChannelSurface | None = None

    def _make_fallback(self) -> ChannelSurface:
        channel = self.interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("the interaction's channel cannot receive messages")
        reference = None
        if self.interaction.message is not None:
            reference = self.interaction.message.to_reference(fail_if_not_exists=False)
        return ChannelSurface(channel, reply_to=reference, filesize_limit=self.filesize_limit)

    async def show(
        self,
        content: str,
        *,
        uploads: Sequence[Upload] = (),
        view: discord.ui.View | None = None,
        embeds: Sequence[discord.Embed] = (),
    ) -> discord.Message | None:
        if self.fallback is None and not self.interaction.is_expired():
            try:
                return await self.interaction.edit_original_response(
                    content=clip(content, CONTENT),
                    attachments=[upload.to_file() for upload in uploads],
                    embeds=list(embeds),
                    view=view,
                    allowed_mentions=NO_MENTIONS,
                )
            except discord.HTTPException as error:
                if error.code not in _DEAD_TOKEN_CODES and error.status not in (401, 404):
                    raise
                log.info("interaction token unusable (%s); posting to the channel", error.code)
        if self.fallback is None:
            self.fallback = self._make_fallback()
        return await self.fallback.show(content, uploads=uploads, view=view, embeds=embeds)


async def show_final(
    surface: Surface,
    job_id: str,
    content: str,
    uploads: Sequence[Upload] = (),
    view: discord.ui.View | None = None,
    embeds: Sequence[discord.Embed] = (),
) -> discord.Message | None:
    """Show a job's last state, or log why not: by now its outcome is stored, and a post
    Discord refuses must not undo that."""
    try:
        return await surface.show(content, uploads=uploads, view=view, embeds=embeds)
    except discord.HTTPException as error:
        log.warning("could not show the final state of job %s: %s", job_id, error)
        return None
