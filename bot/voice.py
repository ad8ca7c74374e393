"""Voice glue for the radio: one long-lived audio source, and a watchdog that keeps it alive.

24/7 radio bots fail in a few known ways: the "silent zombie" (still in the channel, sending
nothing), a voice connection that dropped or was moved, and playing to an empty room. The
player here plays ONE endless source (a new ``play()`` per clip leaves gaps), and
:class:`VoiceSupervisor` checks, on every watchdog tick, that frames are still being read,
that the connection is up and that someone is listening, and reconnects, pauses, leaves or
stops, saying why in the text channel. Discord's voice client sits behind :class:`VoiceLink`
and :class:`Connector` so all of this runs against a fake in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib.util
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import discord

from generation.radio_types import FRAME_BYTES

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Opus
def opus_library_candidates() -> list[str]:
    """The libopus bundled by the ``opuslib-next-bundled`` wheel, when it is installed.

    Only the fallback: :func:`ensure_opus` first lets discord.py find the system's library."""
    found: list[str] = []
    spec = importlib.util.find_spec("opuslib_next")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "_native" / "libopus.so"
        if bundled.exists():
            found.append(str(bundled))
    return found


def ensure_opus() -> bool:
    """Load an Opus encoder for discord.py; False (and a log line) when there is none.

    discord.py encodes PCM sources with libopus through ctypes and looks only for a system
    library; a wheel-bundled copy is tried next so that ``pip install`` alone is enough.
    """
    if discord.opus.is_loaded():
        return True
    try:
        if discord.opus._load_default():
            return True
    except Exception:  # a broken system library: try the bundled one
        log.debug("system libopus failed to load", exc_info=True)
    for candidate in opus_library_candidates():
        try:
            discord.opus.load_opus(candidate)
        except OSError:
            continue
        if discord.opus.is_loaded():
            return True
    log.error("no Opus library: install libopus0 or the opuslib-next-bundled wheel")
    return False


# --------------------------------------------------------------------------- the source
class FrameSource(Protocol):
    def read(self) -> bytes: ...


class RadioAudioSource(discord.AudioSource):
    """discord.py's view of the station: PCM frames, never empty, never blocking.

    It counts frames and remembers when the player last read one, which is the watchdog's
    heartbeat: a player thread that stopped reading is a dead connection whatever the voice
    client claims.
    """

    def __init__(self, station: FrameSource, clock: Callable[[], float] = time.monotonic) -> None:
        self._station = station
        self._clock = clock
        self._lock = threading.Lock()
        self.frames = 0
        self.last_read: float | None = None

    def read(self) -> bytes:
        frame = self._station.read()
        if len(frame) != FRAME_BYTES:  # never end the stream by accident
            frame = bytes(FRAME_BYTES)
        with self._lock:
            self.frames += 1
            self.last_read = self._clock()
        return frame

    def is_opus(self) -> bool:
        return False

    def cleanup(self) -> None:
        """The station outlives a player: reconnecting plays the same station again."""


# --------------------------------------------------------------------------- interfaces
class VoiceLink(Protocol):
    """The parts of ``discord.VoiceClient`` the radio uses."""

    def is_connected(self) -> bool: ...

    def is_playing(self) -> bool: ...

    def is_paused(self) -> bool: ...

    def play(
        self, source: discord.AudioSource, *, after: Callable[[Exception | None], Any]
    ) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...

    async def disconnect(self, *, force: bool = False) -> None: ...

    @property
    def channel_id(self) -> int | None: ...


class Connector(Protocol):
    async def connect(self, channel_id: int) -> VoiceLink: ...


class DiscordVoiceLink:
    """A real ``discord.VoiceClient`` as a :class:`VoiceLink` (music-tuned Opus settings)."""

    def __init__(self, client: discord.VoiceClient, bitrate_kbps: int = 96) -> None:
        self.client = client
        self.bitrate_kbps = bitrate_kbps

    def is_connected(self) -> bool:
        return self.client.is_connected()

    def is_playing(self) -> bool:
        return self.client.is_playing()

    def is_paused(self) -> bool:
        return self.client.is_paused()

    def play(
        self, source: discord.AudioSource, *, after: Callable[[Exception | None], Any]
    ) -> None:
        self.client.play(
            source,
            after=after,
            application="audio",
            bitrate=self.bitrate_kbps,
            signal_type="music",
        )

    def pause(self) -> None:
        self.client.pause()

    def resume(self) -> None:
        self.client.resume()

    def stop(self) -> None:
        self.client.stop()

    async def disconnect(self, *, force: bool = False) -> None:
        await self.client.disconnect(force=force)

    @property
    def channel_id(self) -> int | None:
        channel = self.client.channel
        return channel.id if channel is not None else None


def encoder_bitrate_kbps(wanted_kbps: int, channel_bitrate_bps: int) -> int:
    """The Opus bitrate to send: at most the channel's own (64 kbps unless the server is
    boosted), as Discord's own clients do, and at least discord.py's encoder minimum of 16."""
    return max(16, min(wanted_kbps, channel_bitrate_bps // 1000))


class DiscordConnector:
    """Joins voice channels through discord.py (needs davey, PyNaCl and an Opus library)."""

    def __init__(self, bot: discord.Client, *, timeout: float = 30.0, bitrate_kbps: int = 96):
        self.bot = bot
        self.timeout = timeout
        self.bitrate_kbps = bitrate_kbps

    async def connect(self, channel_id: int) -> VoiceLink:
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            raise VoiceError("That voice channel no longer exists.")
        me = channel.guild.me
        allowed = channel.permissions_for(me) if me is not None else None
        if allowed is not None and not (allowed.connect and allowed.speak):
            raise VoiceError(f"I need the Connect and Speak permissions in {channel.mention}.")
        if not ensure_opus():
            raise VoiceError("The bot has no Opus encoder installed, so it cannot play audio.")
        existing = channel.guild.voice_client
        if isinstance(existing, discord.VoiceClient):
            await existing.disconnect(force=True)
        client: discord.VoiceClient = await channel.connect(
            timeout=self.timeout, reconnect=True, self_deaf=True
        )
        return DiscordVoiceLink(client, encoder_bitrate_kbps(self.bitrate_kbps, channel.bitrate))


class VoiceError(Exception):
    """A voice problem whose message can be shown in the channel."""


# --------------------------------------------------------------------------- supervisor
class VoiceState(enum.StrEnum):
    IDLE = "idle"
    PLAYING = "playing"
    PAUSED_EMPTY = "paused (nobody listening)"
    STOPPED = "stopped"


class Pausable(Protocol):
    """The station controls the supervisor needs: stop generating while nobody listens."""

    def read(self) -> bytes: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


@dataclass
class WatchdogConfig:
    stall_s: float = 5.0
    max_reconnects: int = 3
    empty_leave_s: float = 120.0
    interval_s: float = 2.0


class VoiceSupervisor:
    """Keeps one station playing in one voice channel, or stops it cleanly.

    ``humans()`` counts listeners who are not bots; ``notify(text)`` posts to the radio's text
    channel; ``on_stop(reason)`` is called once when the supervisor gives up or leaves, so the
    radio can stop its station and record why.
    """

    def __init__(
        self,
        station: Pausable,
        connector: Connector,
        channel_id: int,
        *,
        humans: Callable[[], int],
        notify: Callable[[str], Awaitable[None]],
        on_stop: Callable[[str], Awaitable[None]],
        config: WatchdogConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        always_on: Callable[[], bool] = lambda: False,
    ) -> None:
        """``always_on()`` is the server's 24/7 switch, read at every tick so that changing it
        applies at once: with it on, an empty channel pauses the radio but never makes it leave.
        """
        self.station = station
        self.always_on = always_on
        self.connector = connector
        self.channel_id = channel_id
        self.humans = humans
        self.notify = notify
        self.on_stop = on_stop
        self.config = config or WatchdogConfig()
        self.clock = clock
        self.state = VoiceState.IDLE
        self.link: VoiceLink | None = None
        self.source: RadioAudioSource | None = None
        self.reconnects = 0
        self.total_reconnects = 0
        self._started_at = 0.0
        self._empty_since: float | None = None
        self._player_ended = False
        # Our own disconnects (a reconnect) echo back as "the bot left voice"; a leave that is
        # not ours means someone disconnected the bot, and the radio should not force its way
        # back in. Discord orders voice-state events, so our echo always arrives before the
        # new connection's, i.e. while _rejoining is still set.
        self._rejoining = False
        self._kicked = False
        # Ticks come from the watchdog loop and from voice-state events (a reconnect fires
        # some itself); two at once would both reconnect and tear each other's link down.
        self._tick = asyncio.Lock()

    async def start(self) -> None:
        """Join and play; raises :class:`VoiceError` when the channel cannot be joined."""
        try:
            self.link = await self.connector.connect(self.channel_id)
        except VoiceError:
            raise
        except Exception as exc:
            raise VoiceError(f"Could not join the voice channel ({exc}).") from exc
        self._play()
        self.state = VoiceState.PLAYING

    def _play(self) -> None:
        assert self.link is not None
        source = RadioAudioSource(self.station, self.clock)
        self.source = source
        self._player_ended = False
        self._started_at = self.clock()
        self.link.play(source, after=lambda error: self._after(source, error))

    def _after(self, source: RadioAudioSource, error: Exception | None) -> None:
        """Runs in the player thread when playback ends: only note it; check() acts on it.

        A replaced player's thread can end long after its replacement started (discord.py
        waits up to its connect timeout for a dropped link first), so only the current
        source's end counts; otherwise a healthy new link would be torn down again.
        """
        if error is not None:
            log.warning("radio player ended with an error: %s", error)
        if source is self.source:
            self._player_ended = True

    def frames_read(self) -> int:
        return self.source.frames if self.source is not None else 0

    def _stalled(self) -> bool:
        if self.source is None:
            return True
        last = self.source.last_read if self.source.last_read is not None else self._started_at
        return self.clock() - last > self.config.stall_s

    async def check(self) -> None:
        """One watchdog tick: listeners first, then the connection's health."""
        async with self._tick:
            await self._check()

    async def _check(self) -> None:
        if self.state in (VoiceState.STOPPED, VoiceState.IDLE) or self.link is None:
            return
        if self._kicked:
            await self.stop(
                "⏹️ Someone disconnected the radio from the voice channel, so it stopped. "
                "`/radio start` brings it back."
            )
            return
        if await self._check_listeners():
            return
        if self.state is not VoiceState.PLAYING:
            return
        link = self.link
        if not link.is_connected():
            await self._reconnect("the voice connection dropped")
        elif self._player_ended or not link.is_playing():
            await self._reconnect("the player stopped")
        elif self._stalled():
            await self._reconnect(f"no audio was sent for {self.config.stall_s:.0f} s")
        else:
            self.reconnects = 0

    async def _check_listeners(self) -> bool:
        """Pause with nobody there, leave after a while, resume when someone comes back."""
        assert self.link is not None
        if self.humans() > 0:
            self._empty_since = None
            if self.state is VoiceState.PAUSED_EMPTY:
                self.state = VoiceState.PLAYING
                self.station.resume()
                self.link.resume()
                if self.source is not None:
                    self.source.last_read = self.clock()
                await self.notify("▶️ Someone is listening again: the radio plays on.")
            return False
        now = self.clock()
        if self._empty_since is None:
            self._empty_since = now
        if self.state is VoiceState.PLAYING:
            # Pausing the link stops the reads, pausing the station stops generating: the
            # buffer stays as it is, so the music is back the moment someone joins.
            self.state = VoiceState.PAUSED_EMPTY
            self.link.pause()
            self.station.pause()
            minutes = self.config.empty_leave_s / 60
            if self.always_on():
                await self.notify(
                    "⏸️ Nobody is listening: the radio waits here (24/7) and plays again as "
                    "soon as someone joins."
                )
            else:
                await self.notify(
                    f"⏸️ Nobody is in the voice channel, so the radio is paused; "
                    f"it leaves in {minutes:g} min unless someone joins."
                )
        elif self.always_on():
            self._empty_since = now  # 24/7: the countdown to leaving never runs
        elif now - self._empty_since >= self.config.empty_leave_s:
            await self.stop("⏹️ The radio left: nobody was listening.")
        return True

    async def _reconnect(self, why: str) -> None:
        if self.reconnects >= self.config.max_reconnects:
            await self.stop(f"⏹️ The radio stopped: {why} and reconnecting failed.")
            return
        self.reconnects += 1
        self.total_reconnects += 1
        log.warning("radio voice: %s; reconnecting (try %d)", why, self.reconnects)
        old = self.link
        self._rejoining = True
        try:
            if old is not None:
                try:
                    old.stop()
                    await old.disconnect(force=True)
                except Exception:
                    log.debug("disconnecting a dead voice link failed", exc_info=True)
            link = await self.connector.connect(self.channel_id)
        except Exception as exc:
            log.warning("radio voice reconnect failed: %s", exc)
            return  # the next tick tries again, up to max_reconnects
        finally:
            self._rejoining = False
        if self.state is VoiceState.STOPPED:  # /radio stop came while we were rejoining
            with contextlib.suppress(Exception):
                await link.disconnect(force=True)
            return
        self.link = link
        self._play()
        await self.notify(f"🔁 Reconnected the radio ({why}).")

    def moved(self, channel_id: int | None) -> None:
        """The bot's own voice state changed: follow a move, or notice a disconnect that was
        not ours (the next tick then stops the radio and says why)."""
        if channel_id is not None:
            self.channel_id = channel_id
        elif not self._rejoining and self.state in (VoiceState.PLAYING, VoiceState.PAUSED_EMPTY):
            self._kicked = True

    async def stop(self, message: str | None = None) -> None:
        """Leave and stop; idempotent. ``message`` is posted and passed to ``on_stop``."""
        if self.state is VoiceState.STOPPED:
            return
        self.state = VoiceState.STOPPED
        link, self.link = self.link, None
        if link is not None:
            try:
                link.stop()
                await link.disconnect(force=True)
            except Exception:
                log.debug("leaving voice failed", exc_info=True)
        if message:
            await self.notify(message)
        await self.on_stop(message or "stopped")
