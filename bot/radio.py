"""``/radio``: an endless, morphing stream in a voice channel, steered by everyone in it.

The :class:`RadioController` holds the rules (who may start, steer and stop, votes, rate
limits, what ``status`` says, one job per clip with its parent, resuming after a restart)
and talks to Discord only through small callables and the voice :class:`Connector`, so tests
drive it with fakes. :func:`radio_extension` wires it into the bot: the ``/radio`` command
group, voice-state listeners and resume-on-ready. The station (generation) is built by a
factory the composition root passes in, so this module never touches audio arrays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import app_commands

from bot.messages import NO_MENTIONS
from bot.replies import reply
from bot.store import JobStore
from bot.voice import Connector, DiscordConnector, VoiceError, VoiceSupervisor, WatchdogConfig
from generation.radio_plan import (
    DEFAULT_PROMPT,
    RadioSettings,
    RadioState,
    clean_prompt,
    initial_state,
)
from generation.types import MAX_SEED, ClipFiles, GenerationError, GenerationRequest

if TYPE_CHECKING:
    from bot.app import RiffBot
    from db.engine import Database
    from riffbot.settings import Settings

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- interfaces
class StationStatus(Protocol):
    """What ``generation.radio.RadioStatus`` offers (plain data)."""

    @property
    def now_playing(self) -> str | None: ...
    @property
    def now_job_id(self) -> str | None: ...
    @property
    def morphing_to(self) -> str | None: ...
    @property
    def up_next(self) -> tuple[str, ...]: ...
    @property
    def buffered_clips(self) -> int: ...
    @property
    def buffered_seconds(self) -> float: ...
    @property
    def ahead(self) -> int: ...
    @property
    def underruns(self) -> int: ...
    @property
    def clips_played(self) -> int: ...
    @property
    def seconds_played(self) -> float: ...
    @property
    def generating(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def state(self) -> RadioState: ...

    @property
    def health(self) -> str: ...


class StationSnapshot(Protocol):
    @property
    def pcm(self) -> bytes: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def job_ids(self) -> tuple[str, ...]: ...

    @property
    def seconds(self) -> float: ...


class Station(Protocol):
    """``generation.radio.RadioStation`` as the bot sees it."""

    def read(self) -> bytes: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def queue_prompt(self, prompt: str) -> int: ...

    def status(self) -> StationStatus: ...

    def snapshot(self, seconds: float = 25.0) -> StationSnapshot: ...

    def resume_state(self) -> RadioState: ...


class StationHooks(Protocol):
    async def clip_requested(
        self, request: GenerationRequest, parent_job_id: str | None
    ) -> str: ...

    async def clip_finished(
        self, job_id: str, error: str | None, files: ClipFiles | None
    ) -> None: ...

    async def clip_playing(self, job_id: str, state: RadioState) -> None: ...


StationFactory = Callable[[RadioState, StationHooks, str], Station]
"""``(state, hooks, owner) -> station``; the composition root binds the engine."""


@dataclass(frozen=True)
class SavedRadio:
    session_id: int
    guild_id: int
    voice_channel_id: int
    text_channel_id: int | None
    started_by: int
    state: RadioState


class RadioStore(Protocol):
    """Where radio sessions live between restarts (``db.radio`` in production)."""

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int: ...

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None: ...

    async def add_clip(self, session_id: int, job_id: str) -> None: ...

    async def close_session(self, session_id: int, reason: str) -> None: ...

    async def active_sessions(self) -> list[SavedRadio]: ...


@dataclass
class MemoryRadioStore:
    """In-process :class:`RadioStore`; sharing one between two controllers simulates a restart."""

    sessions: dict[int, SavedRadio] = field(default_factory=dict)
    stopped: dict[int, str] = field(default_factory=dict)
    paused: dict[int, bool] = field(default_factory=dict)
    clips: dict[int, list[str]] = field(default_factory=dict)

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int:
        for session_id, saved in list(self.sessions.items()):
            if saved.guild_id == guild_id and session_id not in self.stopped:
                self.stopped[session_id] = "replaced by a new radio session"
        session_id = len(self.sessions) + 1
        self.sessions[session_id] = SavedRadio(
            session_id, guild_id, voice_channel_id, text_channel_id, started_by, state
        )
        return session_id

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        old = self.sessions[session_id]
        self.sessions[session_id] = SavedRadio(
            old.session_id,
            old.guild_id,
            old.voice_channel_id,
            old.text_channel_id,
            old.started_by,
            state,
        )
        self.paused[session_id] = paused

    async def add_clip(self, session_id: int, job_id: str) -> None:
        self.clips.setdefault(session_id, []).append(job_id)

    async def close_session(self, session_id: int, reason: str) -> None:
        self.stopped.setdefault(session_id, reason)

    async def active_sessions(self) -> list[SavedRadio]:
        return [s for i, s in self.sessions.items() if i not in self.stopped]


class DbRadioStore:
    """:class:`RadioStore` over ``db.radio`` (one committed transaction per call, off the loop).

    The whole :class:`RadioState` goes into the session's free-form ``state`` column; the
    prompt, seed, alpha, morph target and queue are also written to their own columns so the
    database reads plainly.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.database.call, fn, *args, **kwargs)

    @staticmethod
    def _columns(state: RadioState) -> dict[str, Any]:
        return {
            "prompt": state.prompt,
            "seed": state.seed,
            "alpha": state.alpha,
            "target_prompt": state.target,
            "target_seed": state.seed if state.target is not None else None,
            "seed_image": state.settings.seed_image,
            "queued_prompts": list(state.up_next),
            "state": {"radio_state": state.to_dict()},
        }

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int:
        from db.radio import start_radio_session, update_radio_session

        def write(session: Any) -> int:
            radio = start_radio_session(
                session,
                guild_id=guild_id,
                voice_channel_id=voice_channel_id,
                text_channel_id=text_channel_id,
                started_by=started_by,
                prompt=state.prompt,
                seed=state.seed,
            )
            update_radio_session(session, radio.id, **self._columns(state))
            return int(radio.id)

        result: int = await self._run(write)
        return result

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        from db.radio import update_radio_session

        status = "paused" if paused else "playing"
        await self._run(update_radio_session, session_id, status=status, **self._columns(state))

    async def add_clip(self, session_id: int, job_id: str) -> None:
        from db.radio import add_radio_clip

        await self._run(add_radio_clip, session_id, int(job_id))

    async def close_session(self, session_id: int, reason: str) -> None:
        from db.radio import stop_radio_session

        await self._run(stop_radio_session, session_id, reason=reason)

    async def active_sessions(self) -> list[SavedRadio]:
        from db.radio import active_radio_sessions

        def read(session: Any) -> list[SavedRadio]:
            saved = []
            for radio in active_radio_sessions(session):
                stored = (radio.state or {}).get("radio_state")
                if stored:
                    state = RadioState.from_dict(stored)
                else:
                    state = RadioState(
                        prompt=radio.prompt,
                        seed=int(radio.seed),
                        alpha=float(radio.alpha or 0.0),
                        target=radio.target_prompt,
                        up_next=tuple(radio.queued_prompts or ()),
                    )
                saved.append(
                    SavedRadio(
                        int(radio.id),
                        int(radio.guild_id),
                        int(radio.voice_channel_id),
                        radio.text_channel_id,
                        int(radio.started_by),
                        state,
                    )
                )
            return saved

        result: list[SavedRadio] = await self._run(read)
        return result


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class StopDecision:
    stop: bool
    votes: frozenset[int]
    needed: int
    reason: str


def decide_stop(
    user_id: int,
    *,
    starter_id: int,
    listeners: frozenset[int],
    moderator: bool,
    votes: frozenset[int],
) -> StopDecision:
    """Who may stop the radio: the starter, a moderator, someone alone with the bot, or a
    vote of half the listeners (rounded up). Votes from people who left do not count."""
    needed = max(1, math.ceil(len(listeners) / 2))
    if user_id == starter_id:
        return StopDecision(True, votes, needed, "stopped by the person who started it")
    if moderator:
        return StopDecision(True, votes, needed, "stopped by a moderator")
    if listeners == frozenset({user_id}):
        return StopDecision(True, votes, needed, "stopped by its only listener")
    if user_id not in listeners:
        return StopDecision(False, votes, needed, "only listeners may vote to stop the radio")
    counted = frozenset((votes | {user_id}) & listeners)
    if len(counted) >= needed:
        return StopDecision(True, counted, needed, f"stopped by a vote ({len(counted)}/{needed})")
    return StopDecision(False, counted, needed, f"vote counted ({len(counted)}/{needed})")


@dataclass
class RadioConfig:
    settings: RadioSettings = field(default_factory=RadioSettings)
    prompt_cooldown_s: float = 20.0
    save_seconds: float = 25.0
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    run_watchdog: bool = True
    default_prompt: str = DEFAULT_PROMPT
    bitrate_kbps: int = 96

    @classmethod
    def from_settings(cls, settings: Settings) -> RadioConfig:
        return cls(
            settings=RadioSettings(
                strength=settings.default_strength,
                guidance=settings.default_guidance,
                steps=settings.default_steps,
                seed_image=settings.default_seed_image,
                scheduler=settings.default_scheduler,
            ),
            prompt_cooldown_s=settings.radio_prompt_cooldown_s,
            save_seconds=settings.radio_save_seconds,
            watchdog=WatchdogConfig(
                stall_s=settings.radio_stall_s, empty_leave_s=settings.radio_empty_leave_s
            ),
            bitrate_kbps=settings.radio_bitrate_kbps,
        )


@dataclass
class RadioDeps:
    make_station: StationFactory
    store: RadioStore
    jobs: JobStore
    encode_mp3: Callable[[bytes, int], bytes]
    config: RadioConfig = field(default_factory=RadioConfig)
    connector: Connector | None = None
    """``None``: discord.py voice (:class:`bot.voice.DiscordConnector`)."""
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)


class DiscordPort(Protocol):
    """The few Discord facts and actions the controller needs."""

    def listeners(self, voice_channel_id: int) -> frozenset[int]:
        """Ids of the humans (not bots) in the voice channel."""
        ...

    async def post(self, text_channel_id: int | None, text: str) -> None: ...

    async def set_channel_status(self, voice_channel_id: int, text: str | None) -> None: ...


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
    hooks: _Hooks
    votes: frozenset[int] = frozenset()
    watchdog: asyncio.Task[None] | None = None
    channel_status: str | None = None


class _Hooks:
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
        hooks = _Hooks(self, saved.guild_id)
        station = self.deps.make_station(saved.state, hooks, f"radio:{saved.guild_id}")
        guild_id = saved.guild_id

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
        return radio

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

    async def queue_prompt(self, *, guild_id: int, user_id: int, prompt: str) -> str:
        radio = self._radio(guild_id)
        if user_id not in self.port.listeners(radio.supervisor.channel_id):
            raise RadioRefused("Join the radio's voice channel to steer it.")
        try:
            prompt = clean_prompt(prompt)
        except GenerationError as exc:
            raise RadioRefused(str(exc)) from exc
        now = self.deps.clock()
        last = self._last_prompt.get((guild_id, user_id))
        cooldown = self.deps.config.prompt_cooldown_s
        if last is not None and now - last < cooldown:
            wait = math.ceil(cooldown - (now - last))
            raise RadioRefused(f"You steered the radio a moment ago; try again in {wait} s.")
        try:
            place = radio.station.queue_prompt(prompt)
        except GenerationError as exc:
            raise RadioRefused(str(exc)) from exc
        self._last_prompt[(guild_id, user_id)] = now
        await self.deps.store.save_state(
            radio.session_id, radio.station.resume_state(), paused=False
        )
        when = "next" if place == 1 else f"#{place} in line"
        shown = discord.utils.escape_markdown(prompt)
        return f"🎛️ Queued: **{shown}** ({when}); the music morphs into it over the next clips."

    async def request_stop(self, *, guild_id: int, user_id: int, moderator: bool) -> str:
        radio = self._radio(guild_id)
        decision = decide_stop(
            user_id,
            starter_id=radio.started_by,
            listeners=self.port.listeners(radio.supervisor.channel_id),
            moderator=moderator,
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


# --------------------------------------------------------------------------- Discord side
class BotPort:
    """:class:`DiscordPort` over a live discord.py client."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    def listeners(self, voice_channel_id: int) -> frozenset[int]:
        channel = self.bot.get_channel(voice_channel_id)
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return frozenset()
        return frozenset(m.id for m in channel.members if not m.bot)

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


def build_group(
    controller: RadioController, seed_images: Callable[[], Sequence[str]]
) -> app_commands.Group:
    """The ``/radio`` command group bound to ``controller``."""
    group = app_commands.Group(
        name="radio", description="Endless, morphing music in your voice channel", guild_only=True
    )

    @group.command(name="start", description="Join your voice channel and play forever")
    @app_commands.describe(prompt="what to play first", seed_image="the beat to build on")
    async def start(
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
        if seed_image is not None and seed_image not in seed_images():
            await reply(interaction, f"There is no seed image called {seed_image!r}.")
            return
        await interaction.response.defer(thinking=True)
        try:
            radio = await controller.start(
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
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        names = [n for n in seed_images() if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @group.command(name="prompt", description="Morph the radio into a new prompt")
    @app_commands.describe(text="what the music should become")
    async def prompt(
        interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 400]
    ) -> None:
        try:
            message = await controller.queue_prompt(
                guild_id=interaction.guild_id or 0, user_id=interaction.user.id, prompt=text
            )
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(message, allowed_mentions=NO_MENTIONS)

    @group.command(name="stop", description="Stop the radio (or vote to)")
    async def stop(interaction: discord.Interaction[Any]) -> None:
        try:
            message = await controller.request_stop(
                guild_id=interaction.guild_id or 0,
                user_id=interaction.user.id,
                moderator=_is_moderator(interaction),
            )
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(message, allowed_mentions=NO_MENTIONS)

    @group.command(name="status", description="What plays, what is next, buffer and listeners")
    async def status(interaction: discord.Interaction[Any]) -> None:
        try:
            text = controller.status_text(interaction.guild_id or 0)
        except RadioRefused as exc:
            await reply(interaction, f"⚠️ {exc}")
            return
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @group.command(name="save", description="Post the last 25 seconds as an MP3")
    async def save(interaction: discord.Interaction[Any]) -> None:
        guild_id = interaction.guild_id or 0
        if guild_id not in controller.radios:
            await reply(interaction, "⚠️ No radio is playing here.")
            return
        await interaction.response.defer(thinking=True)
        try:
            data, filename, text = await controller.save(guild_id)
        except (RadioRefused, GenerationError) as exc:
            await interaction.followup.send(f"⚠️ {exc}", allowed_mentions=NO_MENTIONS)
            return
        import io

        message = await interaction.followup.send(
            text,
            file=discord.File(io.BytesIO(data), filename=filename),
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        radio = controller.radios.get(guild_id)
        status = radio.station.status() if radio is not None else None
        if status is not None and status.now_job_id is not None:
            await controller.deps.jobs.record_post(
                status.now_job_id,
                message_id=message.id,
                channel_id=message.channel.id,
                guild_id=guild_id,
            )

    return group


def radio_extension(
    deps: RadioDeps,
) -> Callable[[RiffBot], Awaitable[None]]:
    """A ``bot.app`` extension: adds ``/radio``, voice listeners, and resume-on-ready."""

    async def install(bot: RiffBot) -> None:
        connector = deps.connector or DiscordConnector(bot, bitrate_kbps=deps.config.bitrate_kbps)
        controller = RadioController(deps, BotPort(bot), connector)
        bot.radio = controller  # type: ignore[attr-defined]
        bot.tree.add_command(build_group(controller, lambda: bot.services.seed_images))
        resumed = False

        async def on_ready() -> None:
            nonlocal resumed
            if not resumed:
                resumed = True
                await controller.resume_all()

        async def on_voice_state_update(
            member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
        ) -> None:
            radio = controller.radios.get(member.guild.id)
            if radio is None:
                return
            if bot.user is not None and member.id == bot.user.id:
                radio.supervisor.moved(after.channel.id if after.channel else None)
            await radio.supervisor.check()

        bot.add_listener(on_ready, "on_ready")
        bot.add_listener(on_voice_state_update, "on_voice_state_update")

    return install
