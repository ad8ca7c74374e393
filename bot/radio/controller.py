"""The radio's rules: who may start, steer and stop, votes, rate limits, what ``status`` says,
one job per clip with its parent, resuming after a restart.

The :class:`RadioController` talks to Discord only through a small :class:`DiscordPort` and
the voice :class:`Connector`, so tests drive it with fakes; ``bot.radio.cog`` binds it to
discord.py. The station (generation) is built by a factory the composition root passes in, so
this module never touches audio arrays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field, replace

import discord

from bot.radio.deps import DiscordPort, RadioDeps
from bot.radio.now_playing import NowPlaying, NowPlayingView, now_playing_text
from bot.radio.store import RadioGuildSettings, SavedRadio
from bot.radio.votes import decide_stop, decide_vote, is_dj
from bot.requests import checked_prompt
from bot.voice import Connector, VoiceError, VoiceSupervisor
from generation.radio_plan import (
    MAX_PROMPT_CHARS,
    RadioSettings,
    RadioState,
    checked_radio_prompt,
    initial_state,
)
from generation.radio_types import Station
from generation.types import MAX_SEED, ClipFiles, GenerationError, GenerationRequest

log = logging.getLogger(__name__)


class RadioRefused(Exception):
    """A request the controller turns down; the message is for the person who asked."""


@dataclass
class GuildRadio:
    session_id: int
    guild_id: int
    voice_channel_id: int
    text_channel_id: int | None
    started_by: int
    station: Station
    supervisor: VoiceSupervisor
    hooks: ClipRecorder
    now_playing: NowPlaying
    settings: RadioGuildSettings = field(default_factory=RadioGuildSettings)
    votes: frozenset[int] = frozenset()
    action_votes: dict[str, frozenset[int]] = field(default_factory=dict)
    """Votes per action ("skip", "seed", "volume+", "steer:<prompt>"), cleared when it happens."""
    watchdog: asyncio.Task[None] | None = None
    channel_status: str | None = None


class ClipRecorder:
    """One job per clip, each the child of the clip before it; the session's resume point."""

    def __init__(self, controller: RadioController, guild_id: int) -> None:
        self.controller = controller
        self.guild_id = guild_id
        self.radio: GuildRadio | None = None

    async def clip_requested(self, request: GenerationRequest, parent_job_id: str | None) -> str:
        radio = self.radio
        assert radio is not None
        jobs = self.controller.deps.jobs
        record = await jobs.create_job(
            request,
            user_id=radio.started_by,
            guild_id=radio.guild_id,
            channel_id=radio.voice_channel_id,
            parent_id=parent_job_id,
            action="radio",
        )
        await jobs.mark_running(record.id)
        await self.controller.deps.store.add_clip(radio.session_id, record.id)
        return record.id

    async def clip_finished(self, job_id: str, error: str | None, files: ClipFiles | None) -> None:
        jobs = self.controller.deps.jobs
        if error is None and files is not None:
            await jobs.mark_done(job_id, files)
        else:
            await jobs.mark_failed(job_id, error or "radio clip played without keeping files")

    async def clip_playing(self, job_id: str, state: RadioState) -> None:
        radio = self.radio
        if radio is None:
            return
        await self.controller.deps.store.save_state(
            radio.session_id, radio.station.resume_state(), paused=False
        )
        await self.controller.update_channel_status(radio, state)
        await self.controller.refresh_now_playing(radio)


def channel_status_text(state: RadioState) -> str:
    """Voice channel status: the current prompt (and where it morphs), within Discord's 500."""
    text = f"📻 {state.prompt}" if state.target is None else f"📻 {state.prompt} → {state.target}"
    return text[:500]


class RadioController:
    """All radios of one bot, one per guild."""

    def __init__(self, deps: RadioDeps, port: DiscordPort, connector: Connector) -> None:
        self.deps = deps
        self.port = port
        self.connector = connector
        self.radios: dict[int, GuildRadio] = {}
        # Guilds whose radio is joining voice: a second start meanwhile would build a second
        # station that nobody could stop, generating for ever.
        self._starting: set[int] = set()
        self._last_prompt: dict[tuple[int, int], float] = {}

    # ---------------------------------------------------------------- start / resume
    async def start(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        user_id: int,
        prompt: str | None,
        seed_image: str | None = None,
        seed: int | None = None,
    ) -> GuildRadio:
        if guild_id in self.radios or guild_id in self._starting:
            raise RadioRefused("The radio is already playing here; steer it with `/radio prompt`.")
        settings = self.deps.config.settings
        if seed_image:
            settings = RadioSettings(**{**settings.__dict__, "seed_image": seed_image})
        chosen = seed if seed is not None else self.deps.rng.randrange(0, MAX_SEED - 1)
        if prompt:  # the operator's default prompt is not a member's words
            prompt = await self._allowed(guild_id, prompt)
        try:
            state = initial_state(prompt or self.deps.config.default_prompt, chosen, settings)
        except GenerationError as exc:
            raise RadioRefused(str(exc)) from exc
        self._starting.add(guild_id)
        try:
            session_id = await self.deps.store.open_session(
                guild_id=guild_id,
                voice_channel_id=voice_channel_id,
                text_channel_id=text_channel_id,
                started_by=user_id,
                state=state,
            )
            return await self._launch(
                SavedRadio(session_id, guild_id, voice_channel_id, text_channel_id, user_id, state)
            )
        finally:
            self._starting.discard(guild_id)

    async def resume_all(self) -> list[int]:
        """After a restart: every radio that was playing plays again from where it was."""
        resumed = []
        for saved in await self.deps.store.active_sessions():
            if saved.guild_id in self.radios or saved.guild_id in self._starting:
                continue
            self._starting.add(saved.guild_id)
            try:
                await self._launch(saved)
            except RadioRefused as exc:
                await self.deps.store.close_session(saved.session_id, f"not resumed: {exc}")
                continue
            finally:
                self._starting.discard(saved.guild_id)
            resumed.append(saved.guild_id)
            await self.port.post(
                saved.text_channel_id,
                f"📻 The radio is back after a restart: {saved.state.prompt} "
                f"(seed {saved.state.seed}).",
            )
        return resumed

    async def _launch(self, saved: SavedRadio) -> GuildRadio:
        hooks = ClipRecorder(self, saved.guild_id)
        station = self.deps.make_station(saved.state, hooks, f"radio:{saved.guild_id}")
        guild_id = saved.guild_id
        settings = await self.deps.store.guild_settings(guild_id)
        station.set_volume(settings.volume_pct / 100)

        async def notify(text: str) -> None:
            await self.port.post(saved.text_channel_id, text)

        async def on_stop(reason: str) -> None:
            await self._end(guild_id, reason, announce=False)

        supervisor = VoiceSupervisor(
            station,
            self.connector,
            saved.voice_channel_id,
            humans=lambda: len(self.port.listeners(supervisor.channel_id)),
            notify=notify,
            on_stop=on_stop,
            config=self.deps.config.watchdog,
            clock=self.deps.clock,
            always_on=lambda: radio.settings.always_on,
        )
        radio = GuildRadio(
            saved.session_id,
            guild_id,
            saved.voice_channel_id,
            saved.text_channel_id,
            saved.started_by,
            station,
            supervisor,
            hooks,
            self._now_playing(saved),
            settings,
        )
        hooks.radio = radio
        await station.start()
        try:
            await supervisor.start()
        except VoiceError as exc:
            await station.stop()
            await self.deps.store.close_session(saved.session_id, str(exc))
            raise RadioRefused(str(exc)) from exc
        self.radios[guild_id] = radio
        if self.deps.config.run_watchdog:
            radio.watchdog = asyncio.create_task(self._watch(radio), name=f"radio-{guild_id}")
        await self.update_channel_status(radio, saved.state)
        await self.refresh_now_playing(radio)
        return radio

    def _now_playing(self, saved: SavedRadio) -> NowPlaying:
        guild_id, channel_id = saved.guild_id, saved.text_channel_id

        async def post(text: str, png: bytes | None) -> int | None:
            return await self.port.post_now_playing(guild_id, channel_id, text, png)

        async def edit(message_id: int, text: str, png: bytes | None, controls: bool) -> bool:
            if channel_id is None:
                return False
            return await self.port.edit_now_playing(
                guild_id, channel_id, message_id, text, png, controls=controls
            )

        async def remember(message_id: int | None) -> None:
            await self.deps.store.set_message(saved.session_id, message_id)

        return NowPlaying(
            post,
            edit,
            message_id=saved.message_id,
            clock=self.deps.clock,
            min_interval_s=self.deps.config.now_playing_interval_s,
            on_new_message=remember,
        )

    async def refresh_now_playing(self, radio: GuildRadio) -> bool:
        """Edit the now-playing message (rate-limited by :class:`NowPlaying`)."""
        if radio.text_channel_id is None:
            return False

        async def render() -> tuple[str, bytes | None]:
            status = radio.station.status()
            view = NowPlayingView(
                listeners=len(self.port.listeners(radio.supervisor.channel_id)),
                voice_state=radio.supervisor.state.value,
                always_on=radio.settings.always_on,
                dj_roles=bool(radio.settings.dj_role_ids),
                web_url=self.deps.radio_page(radio.guild_id) if self.deps.radio_page else None,
            )
            strip = await asyncio.to_thread(radio.station.strip_png, self.deps.config.strip_seconds)
            return now_playing_text(status, view), strip

        try:
            return await radio.now_playing.update(render)
        except Exception:  # the message is a view of the radio: the music plays on
            log.exception("now-playing update failed")
            return False

    async def _watch(self, radio: GuildRadio) -> None:
        while True:
            await asyncio.sleep(self.deps.config.watchdog.interval_s)
            try:
                await radio.supervisor.check()
            except Exception:
                log.exception("radio watchdog tick failed")

    # ---------------------------------------------------------------- steering
    def _radio(self, guild_id: int) -> GuildRadio:
        radio = self.radios.get(guild_id)
        if radio is None:
            raise RadioRefused("No radio is playing here; start one with `/radio start`.")
        return radio

    def _vote(
        self, radio: GuildRadio, action: str, user_id: int, roles: frozenset[int], moderator: bool
    ) -> tuple[bool, str]:
        """Whether ``action`` happens now; otherwise the vote tally to show."""
        decision = decide_vote(
            user_id,
            dj=is_dj(roles=roles, dj_roles=radio.settings.dj_role_ids, moderator=moderator),
            listeners=self.port.listeners(radio.supervisor.channel_id),
            votes=radio.action_votes.get(action, frozenset()),
        )
        if decision.refusal is not None:
            raise RadioRefused(decision.refusal)
        if decision.go:
            radio.action_votes.pop(action, None)
            return True, ""
        radio.action_votes[action] = decision.votes
        return False, f"{len(decision.votes)}/{decision.needed}"

    async def _allowed(self, guild_id: int, prompt: str) -> str:
        """A member's prompt for the radio: its own limits, then the server's blocked words and
        the tidying every other command applies (control and bidi-override characters)."""
        try:
            text = checked_radio_prompt(prompt)
            rules = await self.deps.jobs.guild_config(guild_id)
            return checked_prompt(
                text, blocked_words=rules.blocked_words, max_chars=MAX_PROMPT_CHARS
            )
        except GenerationError as exc:
            raise RadioRefused(str(exc)) from exc

    async def queue_prompt(
        self,
        *,
        guild_id: int,
        user_id: int,
        prompt: str,
        roles: frozenset[int] = frozenset(),
        moderator: bool = False,
    ) -> str:
        """Steer: add a wish to the queue (a DJ at once, anyone else by vote)."""
        radio = self._radio(guild_id)
        if user_id not in self.port.listeners(radio.supervisor.channel_id):
            raise RadioRefused("Join the radio's voice channel to steer it.")
        prompt = await self._allowed(guild_id, prompt)
        shown = discord.utils.escape_markdown(prompt[:200])
        now = self.deps.clock()
        last = self._last_prompt.get((guild_id, user_id))
        cooldown = self.deps.config.prompt_cooldown_s
        if last is not None and now - last < cooldown:
            wait = math.ceil(cooldown - (now - last))
            raise RadioRefused(f"You steered the radio a moment ago; try again in {wait} s.")
        if prompt.casefold() in {p.casefold() for p in radio.station.status().up_next}:
            raise RadioRefused("That prompt is already in the queue.")
        go, tally = self._vote(radio, f"steer:{prompt.casefold()}", user_id, roles, moderator)
        self._last_prompt[(guild_id, user_id)] = now
        if not go:
            return f"🗳️ Vote for **{shown}** counted ({tally}); it joins the queue at half."
        try:
            place = radio.station.queue_prompt(prompt)
        except GenerationError as exc:
            raise RadioRefused(str(exc)) from exc
        await self.deps.store.save_state(
            radio.session_id, radio.station.resume_state(), paused=False
        )
        await self.refresh_now_playing(radio)
        when = "next" if place == 1 else f"#{place} in line"
        return f"🎛️ Queued: **{shown}** ({when}); the music morphs into it over the next clips."

    async def control(
        self,
        *,
        guild_id: int,
        user_id: int,
        action: str,
        roles: frozenset[int] = frozenset(),
        moderator: bool = False,
    ) -> str:
        """Skip, new seed, volume up or down: a DJ at once, anyone else by vote."""
        radio = self._radio(guild_id)
        if action not in ("skip", "seed", "volume+", "volume-"):
            raise RadioRefused("The radio has no such control.")
        go, tally = self._vote(radio, action, user_id, roles, moderator)
        names = {"skip": "skip", "seed": "a new seed", "volume+": "louder", "volume-": "quieter"}
        if not go:
            return f"🗳️ Vote for {names[action]} counted ({tally})."
        if action == "skip":
            waiting = radio.station.status().up_next
            radio.station.skip(self.deps.rng.randrange(0, MAX_SEED - 1))
            radio.action_votes.clear()
            target = discord.utils.escape_markdown(waiting[0][:200]) if waiting else None
            text = (
                f"⏭️ Skipping to **{target}**: it morphs in from this clip."
                if target
                else "⏭️ Nothing queued: skipping to a new seed."
            )
        elif action == "seed":
            seed = self.deps.rng.randrange(0, MAX_SEED - 1)
            radio.station.new_seed(seed)
            text = f"🌱 New seed {seed}: the music walks there from this clip."
        else:
            step = self.deps.config.volume_step_pct * (1 if action == "volume+" else -1)
            volume = min(self.deps.config.max_volume_pct, max(0, radio.settings.volume_pct + step))
            await self._apply_settings(radio, replace(radio.settings, volume_pct=volume), user_id)
            text = f"🔊 Volume {volume} %."
        await self.deps.store.save_state(
            radio.session_id, radio.station.resume_state(), paused=False
        )
        await self.refresh_now_playing(radio)
        return text

    # ---------------------------------------------------------------- server settings
    async def guild_settings(self, guild_id: int) -> RadioGuildSettings:
        radio = self.radios.get(guild_id)
        if radio is not None:
            return radio.settings
        return await self.deps.store.guild_settings(guild_id)

    async def save_guild_settings(
        self, guild_id: int, settings: RadioGuildSettings, *, updated_by: int
    ) -> RadioGuildSettings:
        """Persist and apply now to a radio that is playing (volume, 24/7, DJ roles)."""
        radio = self.radios.get(guild_id)
        if radio is not None:
            await self._apply_settings(radio, settings, updated_by)
            await self.refresh_now_playing(radio)
        else:
            try:
                await self.deps.store.save_guild_settings(guild_id, settings, updated_by=updated_by)
            except ValueError as exc:
                raise RadioRefused(str(exc)) from exc
        return settings

    async def _apply_settings(
        self, radio: GuildRadio, settings: RadioGuildSettings, updated_by: int
    ) -> None:
        try:
            await self.deps.store.save_guild_settings(
                radio.guild_id, settings, updated_by=updated_by
            )
        except ValueError as exc:
            raise RadioRefused(str(exc)) from exc
        before, radio.settings = radio.settings, settings
        radio.station.set_volume(settings.volume_pct / 100)
        if before.always_on != settings.always_on:
            await radio.supervisor.check()  # 24/7 off in an empty channel: the countdown starts

    async def request_stop(
        self,
        *,
        guild_id: int,
        user_id: int,
        moderator: bool,
        roles: frozenset[int] = frozenset(),
    ) -> str:
        """The stop rules: the starter, a moderator, a DJ (a member with a DJ role), the only
        listener, or a vote of half the listeners."""
        radio = self._radio(guild_id)
        dj_role = bool(roles & radio.settings.dj_role_ids)
        decision = decide_stop(
            user_id,
            starter_id=radio.started_by,
            listeners=self.port.listeners(radio.supervisor.channel_id),
            moderator=moderator or dj_role,
            votes=radio.votes,
        )
        radio.votes = decision.votes
        if not decision.stop:
            if decision.votes:
                return f"🗳️ Vote to stop counted: {len(decision.votes)}/{decision.needed}."
            raise RadioRefused(decision.reason[0].upper() + decision.reason[1:] + ".")
        await self._end(guild_id, decision.reason, announce=False)
        return f"⏹️ Radio {decision.reason}."

    async def _end(self, guild_id: int, reason: str, *, announce: bool) -> None:
        radio = self.radios.pop(guild_id, None)
        if radio is None:
            return
        if radio.watchdog is not None and radio.watchdog is not asyncio.current_task():
            radio.watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await radio.watchdog
        # Clear the channel status while still connected: once the bot has left, Discord also
        # wants Manage Channels for it, and a stale "now playing" would stay up.
        await self.update_channel_status(radio, None)
        await radio.supervisor.stop()
        await radio.station.stop()
        await self.deps.store.close_session(radio.session_id, reason)
        try:
            await radio.now_playing.close(f"⏹️ The radio is off: {reason[:300]}")
        except Exception:
            log.exception("could not mark the now-playing message as stopped")
        if announce:
            await self.port.post(radio.text_channel_id, f"⏹️ Radio {reason}.")

    async def shutdown(self) -> None:
        """Bot closing: stop playing but keep sessions active, so a restart resumes them."""
        for guild_id in list(self.radios):
            radio = self.radios.pop(guild_id)
            if radio.watchdog is not None:
                radio.watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await radio.watchdog
            await self.deps.store.save_state(
                radio.session_id, radio.station.resume_state(), paused=False
            )
            radio.supervisor.on_stop = _noop_stop
            await radio.supervisor.stop()
            await radio.station.stop()

    async def update_channel_status(self, radio: GuildRadio, state: RadioState | None) -> None:
        text = channel_status_text(state) if state is not None else None
        if text == radio.channel_status:
            return
        radio.channel_status = text
        try:
            await self.port.set_channel_status(radio.supervisor.channel_id, text)
        except Exception as exc:  # no permission: the radio plays on without it
            log.info("could not set the voice channel status: %s", exc)

    # ---------------------------------------------------------------- reporting
    def status_text(self, guild_id: int) -> str:
        radio = self._radio(guild_id)
        status = radio.station.status()
        listeners = self.port.listeners(radio.supervisor.channel_id)
        esc = discord.utils.escape_markdown
        lines = [f"📻 **Now playing:** {esc(status.now_playing or 'warming up…')}"]
        if status.now_job_id:
            lines[0] += f" (job #{status.now_job_id})"
        if status.morphing_to:
            lines.append(f"🔀 **Morphing into:** {esc(status.morphing_to)}")
        if status.up_next:
            lines.append("⏭️ **Up next:** " + ", ".join(esc(p) for p in status.up_next))
        lines.append(
            f"🧃 **Buffer:** {status.buffered_clips}/{status.ahead} clips "
            f"({status.buffered_seconds:.0f} s ahead, {status.health})"
            + (", generating" if status.generating else "")
        )
        if status.underruns:
            lines.append(f"⚠️ Fell behind {status.underruns}× (repeated a clip instead)")
        if status.last_error:
            lines.append(f"⚠️ Last problem: {esc(status.last_error)}")
        state = radio.supervisor.state.value
        lines.append(
            f"👂 **Listeners:** {len(listeners)} · {state} · "
            f"{status.clips_played} clips, {status.seconds_played / 60:.1f} min played"
        )
        return "\n".join(lines)

    async def save(self, guild_id: int) -> tuple[bytes, str, str]:
        """The last ``save_seconds`` as MP3: (bytes, filename, message text)."""
        radio = self._radio(guild_id)
        snapshot = radio.station.snapshot(self.deps.config.save_seconds)
        if snapshot.seconds < 1.0:
            raise RadioRefused("The radio has not played anything yet.")
        mp3 = await asyncio.to_thread(self.deps.encode_mp3, snapshot.pcm, snapshot.sample_rate)
        jobs = " ".join(f"#{j}" for j in snapshot.job_ids) or "none yet"
        text = (
            f"💾 The last {snapshot.seconds:.0f} s of the radio. Clips: {jobs}. "
            "React to remix, or `/show` a job to continue it."
        )
        return mp3, f"radio-{radio.session_id}.mp3", text


async def _noop_stop(reason: str) -> None:
    return None
