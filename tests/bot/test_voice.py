"""Voice glue: the source through discord.py's own player, and the watchdog against fakes.

discord.py's ``AudioPlayer`` paces itself with ``time.perf_counter`` and ``time.sleep``; the
test swaps that module's clock for a virtual one, so the real scheduling code runs (frame
pacing, catch-up after a slow send) without waiting in real time. The stand-in voice client
records what it is asked to send. It Opus-encodes frames when an Opus library is loaded
(``bot.voice.ensure_opus``); otherwise it records the PCM only, which is all the pacing and
framing checks need, and the encoder is covered by the manual checklist.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import types
from collections.abc import Callable
from typing import Any

import discord
import discord.player
import pytest

from bot.voice import (
    RadioAudioSource,
    VoiceError,
    VoiceState,
    VoiceSupervisor,
    WatchdogConfig,
    encoder_bitrate_kbps,
    ensure_opus,
)
from generation.radio import RadioStation
from generation.radio_plan import initial_state
from generation.radio_sim import SyntheticGenerator
from generation.radio_types import FRAME_BYTES


class VirtualTime:
    """Stands in for the ``time`` module inside ``discord.player``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def perf_counter(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


class StandInVoiceClient:
    """What ``AudioPlayer`` touches on a ``VoiceClient``; sending costs a bounded random time."""

    def __init__(
        self, clock: VirtualTime, loop: asyncio.AbstractEventLoop, stop_after: int, jitter_s: float
    ) -> None:
        self.clock = clock
        self.sent: list[tuple[float, int]] = []
        self.stop_after = stop_after
        self.jitter_s = jitter_s
        self.rng = random.Random(1)
        self.timeout = 1.0
        self.encoder = discord.opus.Encoder() if ensure_opus() else None
        self.encoded = 0
        self.player: discord.player.AudioPlayer | None = None

        async def speak(state: Any) -> None:
            return None

        self.ws = types.SimpleNamespace(speak=speak)
        self.client = types.SimpleNamespace(loop=loop)

    def is_connected(self) -> bool:
        return True

    def wait_until_connected(self, timeout: float) -> bool:
        return True

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if encode:
            self.sent.append((self.clock.perf_counter(), len(data)))
            if self.encoder is not None:
                self.encoder.encode(data, self.encoder.SAMPLES_PER_FRAME)
                self.encoded += 1
            self.clock.advance(self.rng.uniform(0.0, self.jitter_s))
            if len(self.sent) >= self.stop_after and self.player is not None:
                self.player.stop()


async def drive_player(
    monkeypatch: pytest.MonkeyPatch, source: discord.AudioSource, frames: int, jitter_s: float
) -> StandInVoiceClient:
    clock = VirtualTime()
    monkeypatch.setattr(discord.player, "time", clock)
    client = StandInVoiceClient(clock, asyncio.get_running_loop(), frames, jitter_s)
    ended: list[Exception | None] = []
    player = discord.player.AudioPlayer(source, client, after=ended.append)  # type: ignore[arg-type]
    client.player = player
    player.start()
    await asyncio.to_thread(player.join, 60)
    assert not player.is_alive()
    assert ended == [None]
    return client


async def test_discord_player_sends_50_exact_frames_a_second_with_bounded_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    station = RadioStation(SyntheticGenerator(), initial_state("lofi", 3))
    await station.start()
    await station.wait_ready()
    source = RadioAudioSource(station)
    client = await drive_player(monkeypatch, source, frames=500, jitter_s=0.005)
    await station.stop()

    assert [size for _, size in client.sent] == [FRAME_BYTES] * 500
    times = [t for t, _ in client.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    span = times[-1] - times[0]
    assert 499 / span == pytest.approx(50.0, rel=0.01)  # the player keeps 20 ms on average
    # discord.py sleeps two frame lengths after its first packet (its schedule is one frame
    # ahead); after that a frame is late by at most one send's jitter.
    assert gaps[0] <= 0.040 + 0.005 + 1e-9
    assert max(gaps[1:]) <= 0.020 + 0.005 + 1e-9
    assert source.frames == 500
    if client.encoder is not None:
        assert client.encoded == 500


async def test_an_empty_read_never_ends_playback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A station with nothing to say yields silence frames, not b'' (which stops the player)."""

    class Mute:
        def read(self) -> bytes:
            return b""

    client = await drive_player(monkeypatch, RadioAudioSource(Mute()), frames=20, jitter_s=0.0)
    assert [size for _, size in client.sent] == [FRAME_BYTES] * 20


# --------------------------------------------------------------------------- watchdog
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLink:
    def __init__(self, channel_id: int) -> None:
        self.channel_id: int | None = channel_id
        self.connected = True
        self.playing = False
        self.paused = False
        self.disconnected = False
        self.source: discord.AudioSource | None = None
        self.after: Callable[[Exception | None], Any] | None = None

    def is_connected(self) -> bool:
        return self.connected

    def is_playing(self) -> bool:
        return self.playing and not self.paused

    def is_paused(self) -> bool:
        return self.paused

    def play(
        self, source: discord.AudioSource, *, after: Callable[[Exception | None], Any]
    ) -> None:
        if self.playing:
            raise discord.ClientException("Already playing audio.")
        self.source, self.after, self.playing = source, after, True

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def stop(self) -> None:
        self.playing = False

    async def disconnect(self, *, force: bool = False) -> None:
        self.connected = False
        self.disconnected = True


class FakeConnector:
    def __init__(self) -> None:
        self.links: list[FakeLink] = []
        self.fail = 0

    async def connect(self, channel_id: int) -> FakeLink:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("voice gateway closed with 4006")
        link = FakeLink(channel_id)
        self.links.append(link)
        return link


class FakeStation:
    def __init__(self) -> None:
        self.paused = False

    def read(self) -> bytes:
        return b"\x01" * FRAME_BYTES

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


class Rig:
    def __init__(self, listeners: int = 2) -> None:
        self.clock = FakeClock()
        self.connector = FakeConnector()
        self.station = FakeStation()
        self.listeners = listeners
        self.messages: list[str] = []
        self.stopped: list[str] = []

        async def notify(text: str) -> None:
            self.messages.append(text)

        async def on_stop(reason: str) -> None:
            self.stopped.append(reason)

        self.supervisor = VoiceSupervisor(
            self.station,
            self.connector,
            42,
            humans=lambda: self.listeners,
            notify=notify,
            on_stop=on_stop,
            config=WatchdogConfig(stall_s=5.0, max_reconnects=2, empty_leave_s=60.0),
            clock=self.clock,
        )

    @property
    def link(self) -> FakeLink:
        return self.connector.links[-1]

    def play_for(self, seconds: float) -> None:
        """The player thread reading frames while time passes."""
        assert self.link.source is not None
        for _ in range(round(seconds * 50)):
            self.clock.now += 0.02
            self.link.source.read()


async def test_joins_and_plays_one_long_lived_source() -> None:
    rig = Rig()
    await rig.supervisor.start()
    assert len(rig.connector.links) == 1
    assert isinstance(rig.link.source, RadioAudioSource)
    assert not rig.link.source.is_opus()
    rig.play_for(30)
    await rig.supervisor.check()
    assert len(rig.connector.links) == 1  # healthy: no reconnect
    assert rig.supervisor.frames_read() == 1500


async def test_a_silent_zombie_is_reconnected() -> None:
    rig = Rig()
    await rig.supervisor.start()
    rig.play_for(1)
    rig.clock.now += 6.0  # the player thread stopped reading, the client still says "playing"
    await rig.supervisor.check()
    first, second = rig.connector.links
    assert first.disconnected
    assert second.is_playing()
    assert second.source is not first.source
    assert "Reconnected" in rig.messages[-1]
    assert "no audio was sent" in rig.messages[-1]


async def test_a_dropped_connection_or_ended_player_is_reconnected() -> None:
    rig = Rig()
    await rig.supervisor.start()
    rig.play_for(1)
    rig.link.connected = False
    await rig.supervisor.check()
    assert len(rig.connector.links) == 2
    rig.play_for(1)
    assert rig.link.after is not None
    rig.link.after(None)  # AudioPlayer gave up after its reconnect timeout
    await rig.supervisor.check()
    assert len(rig.connector.links) == 3
    assert rig.supervisor.total_reconnects == 2


async def test_reconnecting_gives_up_cleanly_and_says_why() -> None:
    rig = Rig()
    await rig.supervisor.start()
    rig.connector.fail = 10
    rig.link.connected = False
    for _ in range(3):
        await rig.supervisor.check()
    assert rig.supervisor.state is VoiceState.STOPPED
    assert rig.stopped
    assert "reconnecting failed" in rig.messages[-1]
    await rig.supervisor.check()  # a stopped supervisor does nothing more
    assert len(rig.stopped) == 1


async def test_empty_channel_pauses_then_resumes_when_someone_returns() -> None:
    rig = Rig(listeners=1)
    await rig.supervisor.start()
    rig.play_for(1)
    rig.listeners = 0
    await rig.supervisor.check()
    assert rig.supervisor.state is VoiceState.PAUSED_EMPTY
    assert rig.link.paused
    assert rig.station.paused
    assert "Nobody is in the voice channel" in rig.messages[-1]
    rig.clock.now += 30.0  # no frames read while paused: that is not a stall
    await rig.supervisor.check()
    assert len(rig.connector.links) == 1
    rig.listeners = 1
    await rig.supervisor.check()
    assert rig.supervisor.state.value == VoiceState.PLAYING.value  # mypy narrowed it above
    assert not rig.link.paused
    assert not rig.station.paused
    assert "listening again" in rig.messages[-1]
    await rig.supervisor.check()
    assert len(rig.connector.links) == 1


async def test_empty_channel_for_long_leaves_and_says_why() -> None:
    rig = Rig(listeners=0)
    await rig.supervisor.start()
    await rig.supervisor.check()
    rig.clock.now += 61.0
    await rig.supervisor.check()
    assert rig.supervisor.state is VoiceState.STOPPED
    assert rig.link.disconnected
    assert rig.stopped == ["⏹️ The radio left: nobody was listening."]


async def test_join_failure_is_a_voice_error_with_a_sentence() -> None:
    rig = Rig()
    rig.connector.fail = 1
    with pytest.raises(VoiceError, match="Could not join"):
        await rig.supervisor.start()


async def test_moves_are_followed() -> None:
    rig = Rig()
    await rig.supervisor.start()
    rig.supervisor.moved(77)
    rig.link.connected = False
    await rig.supervisor.check()
    assert rig.link.channel_id == 77


async def test_a_replaced_players_late_end_does_not_tear_down_the_new_link() -> None:
    """discord.py's player waits up to its connect timeout on a dropped link before calling
    ``after``; by then the watchdog has reconnected, and that late call must not count."""
    rig = Rig()
    await rig.supervisor.start()
    first = rig.link
    first.connected = False
    await rig.supervisor.check()
    assert len(rig.connector.links) == 2
    rig.play_for(1)
    assert first.after is not None
    first.after(None)  # the old player thread gives up, long after the reconnect
    await rig.supervisor.check()
    assert len(rig.connector.links) == 2
    assert rig.supervisor.total_reconnects == 1


class GatedConnector(FakeConnector):
    """Connecting takes a while (a real voice handshake), so other ticks can arrive meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def connect(self, channel_id: int) -> FakeLink:
        if self.links:  # the first join is immediate; reconnects wait at the gate
            self.entered.set()
            await self.gate.wait()
        return await super().connect(channel_id)


async def test_ticks_during_a_reconnect_wait_for_it_instead_of_reconnecting_again() -> None:
    """A reconnect fires voice-state events, and each event runs a tick of its own."""
    rig = Rig()
    connector = GatedConnector()
    rig.connector = connector
    rig.supervisor.connector = connector
    await rig.supervisor.start()
    rig.link.connected = False
    watchdog = asyncio.create_task(rig.supervisor.check())
    await connector.entered.wait()
    event = asyncio.create_task(rig.supervisor.check())  # the bot's own voice state changed
    connector.gate.set()
    await asyncio.wait_for(asyncio.gather(watchdog, event), 10)
    assert len(connector.links) == 2
    assert rig.supervisor.total_reconnects == 1
    assert rig.link.is_playing()


async def test_being_disconnected_by_someone_stops_the_radio_and_says_why() -> None:
    rig = Rig()
    await rig.supervisor.start()
    rig.play_for(1)
    rig.supervisor.moved(None)  # a moderator disconnected the bot
    rig.link.connected = False
    await rig.supervisor.check()
    assert len(rig.connector.links) == 1  # it did not force its way back in
    assert rig.link.disconnected
    assert "disconnected the radio" in rig.messages[-1]
    assert rig.stopped == [rig.messages[-1]]


class EchoingConnector(FakeConnector):
    """Like Discord: leaving during a reconnect echoes back as the bot's own voice state
    changing to no channel, before the new connection is made."""

    def __init__(self, supervisor: Callable[[], VoiceSupervisor]) -> None:
        super().__init__()
        self.supervisor = supervisor

    async def connect(self, channel_id: int) -> FakeLink:
        if self.links:
            self.supervisor().moved(None)
        link = await super().connect(channel_id)
        self.supervisor().moved(channel_id)
        return link


async def test_our_own_reconnect_is_not_mistaken_for_being_disconnected() -> None:
    rig = Rig()
    connector = EchoingConnector(lambda: rig.supervisor)
    rig.connector = connector
    rig.supervisor.connector = connector
    await rig.supervisor.start()
    rig.link.connected = False
    await rig.supervisor.check()
    rig.play_for(1)
    await rig.supervisor.check()
    assert len(connector.links) == 2
    assert rig.link.is_playing()
    assert rig.stopped == []


def test_the_encoder_bitrate_never_exceeds_the_channels() -> None:
    assert encoder_bitrate_kbps(96, 64_000) == 64  # an unboosted server's default channel
    assert encoder_bitrate_kbps(96, 384_000) == 96
    assert encoder_bitrate_kbps(96, 8_000) == 16  # discord.py's encoder minimum


async def test_a_stop_during_a_reconnect_does_not_rejoin() -> None:
    rig = Rig()
    connector = GatedConnector()
    rig.connector = connector
    rig.supervisor.connector = connector
    await rig.supervisor.start()
    rig.link.connected = False
    tick = asyncio.create_task(rig.supervisor.check())
    await connector.entered.wait()
    await rig.supervisor.stop("⏹️ Radio stopped by the person who started it.")
    connector.gate.set()
    await asyncio.wait_for(tick, 10)
    rejoined = connector.links[-1]
    assert len(connector.links) == 2
    assert rejoined.disconnected
    assert rejoined.source is None  # nothing was played into the channel it just left
    assert rig.stopped == ["⏹️ Radio stopped by the person who started it."]
