"""The radio's Discord side, as discord.py's own ``GroupCog``: the ``/radio`` commands, the
voice-state listeners, resume-on-ready and the unload path, over a
:class:`~bot.radio.controller.RadioController` that holds the rules."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.messages import NO_MENTIONS
from bot.radio.buttons import RadioButton, SteerModal, radio_view
from bot.radio.controller import RadioController, RadioRefused
from bot.radio.deps import RadioDeps
from bot.radio.settings import radio_settings_command
from bot.replies import reply
from bot.voice import DiscordConnector
from generation.types import GenerationError

if TYPE_CHECKING:
    from bot.app import RiffBot

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Discord side
class BotPort:
    """:class:`DiscordPort` over a live discord.py client."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    def listeners(self, voice_channel_id: int) -> frozenset[int]:
        channel = self.bot.get_channel(voice_channel_id)
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return frozenset()
        # From the voice states, not ``channel.members``: right after a restart the member
        # cache may not hold everyone yet, and a listener missing there would pause the radio.
        me = self.bot.user.id if self.bot.user is not None else None
        humans = set()
        for user_id in channel.voice_states:
            member = channel.guild.get_member(user_id)
            if user_id != me and not (member is not None and member.bot):
                humans.add(user_id)
        return frozenset(humans)

    async def post(self, text_channel_id: int | None, text: str) -> None:
        if text_channel_id is None:
            return
        channel = self.bot.get_channel(text_channel_id)
        if isinstance(channel, discord.abc.Messageable):
            try:
                await channel.send(text, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.info("could not post in the radio's text channel: %s", exc)

    async def set_channel_status(self, voice_channel_id: int, text: str | None) -> None:
        channel = self.bot.get_channel(voice_channel_id)
        if not isinstance(channel, discord.VoiceChannel):
            return
        if not channel.permissions_for(channel.guild.me).set_voice_channel_status:
            return
        await channel.edit(status=text)

    @staticmethod
    def _embed(text: str, png: bytes | None) -> tuple[discord.Embed, list[discord.File]]:
        embed = discord.Embed(title="📻 Riffbot radio", description=text[:4000])
        if png is None:
            return embed, []
        embed.set_image(url=f"attachment://{STRIP_NAME}")
        return embed, [discord.File(io.BytesIO(png), filename=STRIP_NAME)]

    async def post_now_playing(
        self, guild_id: int, text_channel_id: int | None, text: str, png: bytes | None
    ) -> int | None:
        channel = self.bot.get_channel(text_channel_id) if text_channel_id else None
        if not isinstance(channel, discord.abc.Messageable):
            return None
        embed, files = self._embed(text, png)
        try:
            message = await channel.send(
                embed=embed, files=files, view=radio_view(guild_id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.info("could not post the now-playing message: %s", exc)
            return None
        return message.id

    async def edit_now_playing(
        self,
        guild_id: int,
        text_channel_id: int,
        message_id: int,
        text: str,
        png: bytes | None,
        *,
        controls: bool = True,
    ) -> bool:
        channel = self.bot.get_channel(text_channel_id)
        if not isinstance(channel, discord.TextChannel | discord.VoiceChannel | discord.Thread):
            return False
        embed, files = self._embed(text, png)
        try:
            await channel.get_partial_message(message_id).edit(
                embed=embed, attachments=files, view=radio_view(guild_id) if controls else None
            )
        except discord.NotFound:
            return False
        return True


def _member_voice_channel(interaction: discord.Interaction[Any]) -> int | None:
    user = interaction.user
    if isinstance(user, discord.Member) and user.voice is not None and user.voice.channel:
        return user.voice.channel.id
    return None


def _in_stage_channel(interaction: discord.Interaction[Any]) -> bool:
    user = interaction.user
    voice = user.voice if isinstance(user, discord.Member) else None
    return voice is not None and isinstance(voice.channel, discord.StageChannel)


def _is_moderator(interaction: discord.Interaction[Any]) -> bool:
    user = interaction.user
    return isinstance(user, discord.Member) and user.guild_permissions.manage_channels


def _roles(interaction: discord.Interaction[Any]) -> frozenset[int]:
    user = interaction.user
    return frozenset(r.id for r in user.roles) if isinstance(user, discord.Member) else frozenset()


STRIP_NAME = "radio-strip.png"
CONTROLS = {"seed": "seed", "skip": "skip", "vup": "volume+", "vdown": "volume-"}


@app_commands.guild_only()
class RadioCog(
    commands.GroupCog,
    name="radio",
    group_name="radio",
    group_description="Endless, morphing music in your voice channel",
):
    """``/radio``, the voice-state listeners and the unload path, over one controller.

    Unloading the cog (``bot.close()`` removes every cog) calls the controller's
    :meth:`~RadioController.shutdown`: playback stops but sessions stay active, so the next
    start resumes them from ``on_ready``.
    """

    def __init__(
        self,
        bot: commands.Bot,
        controller: RadioController,
        seed_images: Callable[[], Sequence[str]],
    ) -> None:
        self.bot = bot
        self.controller = controller
        self.seed_images = seed_images
        self._resumed = False
        super().__init__()

    async def cog_unload(self) -> None:
        settings = self.bot.tree.get_command("settings")
        if isinstance(settings, app_commands.Group):
            settings.remove_command("radio")
        await self.controller.shutdown()

    # ---------------------------------------------------------------- events
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Resume once per process: ``on_ready`` fires again after every reconnect."""
        if not self._resumed:
            self._resumed = True
            await self.controller.resume_all()

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        radio = self.controller.radios.get(member.guild.id)
        if radio is None:
            return
        if self.bot.user is not None and member.id == self.bot.user.id:
            radio.supervisor.moved(after.channel.id if after.channel else None)
        await radio.supervisor.check()

    # ---------------------------------------------------------------- commands
    @app_commands.command(name="start", description="Join your voice channel and play forever")
    @app_commands.describe(prompt="what to play first", seed_image="the beat to build on")
    async def start(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 400] | None = None,
        seed_image: str | None = None,
    ) -> None:
        channel_id = _member_voice_channel(interaction)
        if channel_id is None or interaction.guild_id is None:
            await reply(interaction, "Join a voice channel first, then start the radio.")
            return
        if _in_stage_channel(interaction):
            # A bot in a stage channel stays suppressed (silent) until a moderator invites it
            # to speak, which would look like a radio that plays nothing.
            await reply(
                interaction,
                "The radio plays in voice channels, not stage channels: join a voice channel "
                "and start it there.",
            )
            return
        if seed_image is not None and seed_image not in self.seed_images():
            await reply(interaction, f"There is no seed image called {seed_image!r}.")
            return
        await interaction.response.defer(thinking=True)
        try:
            radio = await self.controller.start(
                guild_id=interaction.guild_id,
                voice_channel_id=channel_id,
                text_channel_id=interaction.channel_id,
                user_id=interaction.user.id,
                prompt=prompt,
                seed_image=seed_image,
            )
        except RadioRefused as exc:
            await interaction.followup.send(f"⚠️ {exc}", allowed_mentions=NO_MENTIONS)
            return
        state = radio.station.resume_state()
        await interaction.followup.send(
            f"📻 Radio on in <#{channel_id}>: **{discord.utils.escape_markdown(state.prompt)}** "
            f"(seed {state.seed}). Steer it with `/radio prompt`.",
            allowed_mentions=NO_MENTIONS,
        )

    @start.autocomplete("seed_image")
    async def seed_image_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        names = [n for n in self.seed_images() if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @app_commands.command(name="prompt", description="Morph the radio into a new prompt")
    @app_commands.describe(text="what the music should become")
    async def prompt(
        self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 400]
    ) -> None:
        await self.steer_from_modal(interaction, text)

    async def steer_from_modal(self, interaction: discord.Interaction[Any], prompt: str) -> None:
        """``/radio prompt`` and the Steer modal: one road into the queue."""
        try:
            message = await self.controller.queue_prompt(
                guild_id=interaction.guild_id or 0,
                user_id=interaction.user.id,
                prompt=prompt,
                roles=_roles(interaction),
                moderator=_is_moderator(interaction),
            )
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(message, allowed_mentions=NO_MENTIONS)

    async def handle_button(self, interaction: discord.Interaction[Any], action: str) -> None:
        """A click on the now-playing message; refusals go only to the person who clicked."""
        guild_id = interaction.guild_id or 0
        if guild_id not in self.controller.radios:
            await reply(interaction, "⚠️ No radio is playing here.")
            return
        if action == "steer":
            await interaction.response.send_modal(SteerModal())
            return
        if action == "save":
            await self._save(interaction)
            return
        try:
            if action == "stop":
                message = await self.controller.request_stop(
                    guild_id=guild_id,
                    user_id=interaction.user.id,
                    moderator=_is_moderator(interaction),
                    roles=_roles(interaction),
                )
            else:
                message = await self.controller.control(
                    guild_id=guild_id,
                    user_id=interaction.user.id,
                    action=CONTROLS[action],
                    roles=_roles(interaction),
                    moderator=_is_moderator(interaction),
                )
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(message, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="stop", description="Stop the radio (or vote to)")
    async def stop(self, interaction: discord.Interaction[Any]) -> None:
        try:
            message = await self.controller.request_stop(
                guild_id=interaction.guild_id or 0,
                user_id=interaction.user.id,
                moderator=_is_moderator(interaction),
                roles=_roles(interaction),
            )
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(message, allowed_mentions=NO_MENTIONS)

    @app_commands.command(
        name="status", description="What plays, what is next, buffer and listeners"
    )
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        try:
            text = self.controller.status_text(interaction.guild_id or 0)
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="save", description="Post the last 25 seconds as an MP3")
    async def save(self, interaction: discord.Interaction[Any]) -> None:
        await self._save(interaction)

    async def _save(self, interaction: discord.Interaction[Any]) -> None:
        guild_id = interaction.guild_id or 0
        if guild_id not in self.controller.radios:
            await reply(interaction, "⚠️ No radio is playing here.")
            return
        await interaction.response.defer(thinking=True)
        try:
            data, filename, text = await self.controller.save(guild_id)
        except (RadioRefused, GenerationError) as exc:
            await interaction.followup.send(f"⚠️ {exc}", allowed_mentions=NO_MENTIONS)
            return
        message = await interaction.followup.send(
            text,
            file=discord.File(io.BytesIO(data), filename=filename),
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        radio = self.controller.radios.get(guild_id)
        status = radio.station.status() if radio is not None else None
        if status is not None and status.now_job_id is not None:
            await self.controller.deps.jobs.record_post(
                status.now_job_id,
                message_id=message.id,
                channel_id=message.channel.id,
                guild_id=guild_id,
            )


def radio_extension(deps: RadioDeps) -> Callable[[RiffBot], Awaitable[None]]:
    """A ``bot.app`` extension: adds the :class:`RadioCog` over a new controller."""

    async def install(bot: RiffBot) -> None:
        connector = deps.connector or DiscordConnector(bot, bitrate_kbps=deps.config.bitrate_kbps)
        controller = RadioController(deps, BotPort(bot), connector)
        bot.add_dynamic_items(RadioButton)
        await bot.add_cog(RadioCog(bot, controller, lambda: bot.services.seed_images))
        settings = bot.tree.get_command("settings")
        if isinstance(settings, app_commands.Group):
            settings.add_command(radio_settings_command(controller))

    return install
