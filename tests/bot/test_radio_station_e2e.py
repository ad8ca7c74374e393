"""The radio as a station, through simulated Discord: the now-playing message and its buttons
(with and without a DJ role), the queue, volume on the PCM, 24/7, and a restart.

Voice is the fake link of the voice tests (SimCord cannot open a bot voice connection); the
test reads frames from it as discord.py's player would, so clips start exactly when a test
says. The controller's clock is a fake one the test moves, so rate limits are deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import numpy as np
import pytest
import simcord

from bot.config import BotConfig
from bot.radio.cog import RadioCog, radio_extension
from bot.radio.controller import GuildRadio, RadioController
from bot.radio.deps import RadioConfig, RadioDeps
from bot.voice import WatchdogConfig
from generation.radio import RadioStation
from generation.radio_plan import RadioSettings, RadioState
from generation.radio_stream import pcm16_to_float
from tests.bot.test_voice import FakeClock, FakeConnector, FakeLink
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner, ImageGenerator, MemoryRadioStore, MemoryStore

FRAMES_PER_CLIP = 256  # 5.12 s of 20 ms frames: a little over one 5.11 s clip, so after the
# first play() the second clip (alpha 0.50) is playing


class StationSim:
    def __init__(
        self,
        sim: Sim,
        connector: FakeConnector,
        voice: simcord.ChannelHandle,
        clock: FakeClock,
        store: MemoryRadioStore,
        generator: ImageGenerator,
    ) -> None:
        self.sim = sim
        self.connector = connector
        self.voice = voice
        self.clock = clock
        self.store = store
        self.generator = generator
        guild = sim.guild
        self.dj_role = guild.create_role("DJ")
        admin_role = guild.create_role("Admin", permissions=discord.Permissions(manage_guild=True))
        mod_role = guild.create_role(
            "Mod", permissions=discord.Permissions(manage_messages=True, manage_channels=True)
        )
        env = sim.env
        self.carol = guild.add_member(env.create_user("carol"), roles=[self.dj_role])
        self.dave = guild.add_member(env.create_user("dave"))
        self.admin = guild.add_member(env.create_user("admin"), roles=[admin_role])
        self.mod = guild.add_member(env.create_user("mod"), roles=[mod_role])

    @property
    def controller(self) -> RadioController:
        cog = self.sim.bot.get_cog("radio")
        assert isinstance(cog, RadioCog)
        return cog.controller

    @property
    def radio(self) -> GuildRadio:
        return self.controller.radios[self.sim.guild.id]

    @property
    def link(self) -> FakeLink:
        return self.connector.links[-1]

    def now_playing(self) -> list[discord.Message]:
        return [
            m
            for m in self.sim.channel.history()
            if m.embeds and m.embeds[0].title == "📻 Riffbot radio"
        ]

    def text(self) -> str:
        (message,) = self.now_playing()
        return message.embeds[0].description or ""

    def button(self, action: str) -> str:
        return f"radio:{action}:{self.sim.guild.id}"

    async def play(self, clips: int = 1) -> list[bytes]:
        """Let ``clips`` clips go by (as the player thread reads them), time moving with them."""
        source = self.link.source
        assert source is not None
        station = self.radio.station
        assert isinstance(station, RadioStation)
        frames: list[bytes] = []
        for _ in range(clips * 2):  # halves: the prefetcher makes the next clip in between
            frames.extend(source.read() for _ in range(FRAMES_PER_CLIP // 2))
            self.clock.now += 2.56
            await station.settled()
            await self.sim.env.settle()
        return frames

    async def start(self, *listeners: simcord.MemberActor, prompt: str = "lofi") -> None:
        for member in listeners or (self.sim.alice,):
            await member.join_voice(self.voice)
        result = await (listeners or (self.sim.alice,))[0].slash(
            self.sim.channel, "radio start", prompt=prompt
        )
        assert result.response is not None
        assert "Radio on in" in result.response.content
        station = self.radio.station
        assert isinstance(station, RadioStation)
        await station.wait_ready()


def make_extension(
    connector: FakeConnector, clock: FakeClock, store: MemoryRadioStore, generator: ImageGenerator
) -> tuple[Any, list[simcord.Env]]:
    env: list[simcord.Env] = []

    async def idle(wait: Any) -> Any:
        return await env[0].external_wait(wait, reason="radio buffer full")

    def make_station(state: RadioState, hooks: Any, owner: str) -> RadioStation:
        return RadioStation(generator, state, hooks=hooks, ahead=1, idle_wait=idle)

    deps = RadioDeps(
        make_station=make_station,
        store=store,
        jobs=MemoryStore(),
        encode_mp3=lambda pcm, rate: b"ID3" + bytes(64),
        config=RadioConfig(
            settings=RadioSettings(steps=3),
            run_watchdog=False,
            prompt_cooldown_s=20.0,
            watchdog=WatchdogConfig(empty_leave_s=60.0),
        ),
        connector=connector,
        clock=clock,
        radio_page=radio_page,
    )
    return radio_extension(deps), env


def radio_page(guild_id: int) -> str:
    """Stands in for the web room's signed link maker."""
    return f"https://riffbot.example/radio/signed-for-{guild_id}"


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[StationSim]:
    connector, clock, store = FakeConnector(), FakeClock(), MemoryRadioStore()
    generator = ImageGenerator()
    extension, env = make_extension(connector, clock, store, generator)
    config = BotConfig(out_dir=tmp_path / "outputs", default_steps=3, progress_interval_s=0.0)
    async with open_sim(
        GatedRunner(auto=True), MemoryStore(), config, extensions=[extension]
    ) as sim:
        env.append(sim.env)
        voice = sim.guild.create_voice_channel("lounge")
        await sim.env.settle()
        yield StationSim(sim, connector, voice, clock, store, generator)
        if sim.bot.get_cog("radio") is not None:
            await sim.bot.remove_cog("radio")


# ------------------------------------------------------------------------------ now playing
async def test_now_playing_appears_updates_at_each_clip_and_is_reposted_when_deleted(
    station: StationSim,
) -> None:
    await station.start()
    (first,) = station.now_playing()
    ids = {
        button.custom_id
        for row in first.components
        if isinstance(row, discord.ActionRow)
        for button in row.children
        if isinstance(button, discord.Button)
    }
    actions = ("steer", "seed", "skip", "vdown", "vup", "save", "stop")
    assert ids == {station.button(a) for a in actions}
    assert "**Now:** warming up" in station.text()

    await station.play()
    text = station.text()
    assert "**Now:** lofi" in text
    assert "**Seed**" in text
    assert "**alpha** 0.50" in text
    assert "**1** listening" in text
    assert "ahead" in text
    assert f"<{radio_page(station.sim.guild.id)}>" in text  # this server's web radio page
    (message,) = station.now_playing()
    assert message.id == first.id  # edited, not posted again
    assert [a.filename for a in message.attachments] == ["radio-strip.png"]

    await station.play()
    assert "**alpha** 0.75" in station.text()

    await station.mod.delete(message)
    assert station.now_playing() == []
    await station.play()
    (fresh,) = station.now_playing()
    assert fresh.id != first.id
    assert "**alpha** 1.00" in station.text()
    saved = await station.store.active_sessions()
    assert saved[0].message_id == fresh.id


async def test_edits_are_rate_limited(station: StationSim) -> None:
    await station.start()
    await station.play()
    radio = station.radio
    edits = radio.now_playing.edits
    station.clock.now += 1.0
    assert not await station.controller.refresh_now_playing(radio)  # 1 s after the last
    station.clock.now += 4.0
    assert await station.controller.refresh_now_playing(radio)
    assert radio.now_playing.edits == edits + 1


# ------------------------------------------------------------------------------ buttons
async def test_without_a_dj_role_every_listener_acts_at_once(station: StationSim) -> None:
    sim = station.sim
    await station.start(sim.alice, sim.bob, station.dave)
    (message,) = station.now_playing()

    seeded = await sim.bob.click(message, custom_id=station.button("seed"))
    assert seeded.response is not None
    assert "New seed" in seeded.response.content
    assert not seeded.response.ephemeral

    louder = await sim.bob.click(message, custom_id=station.button("vup"))
    assert louder.response is not None
    assert "Volume 110 %" in louder.response.content
    assert station.radio.station.status().volume == pytest.approx(1.1)
    assert station.store.guilds[sim.guild.id].volume_pct == 110

    quieter = await station.dave.click(message, custom_id=station.button("vdown"))
    assert quieter.response is not None
    assert "Volume 100 %" in quieter.response.content

    skipped = await sim.bob.click(message, custom_id=station.button("skip"))
    assert skipped.response is not None
    assert "skipping to a new seed" in skipped.response.content

    # Someone outside the voice channel is refused, privately.
    outsider = await station.carol.click(message, custom_id=station.button("skip"))
    assert outsider.response is not None
    assert outsider.response.ephemeral
    assert "Join the radio's voice channel" in outsider.response.content

    # Stop keeps its own rules: not the starter, three listeners -> a vote.
    vote = await sim.bob.click(message, custom_id=station.button("stop"))
    assert vote.response is not None
    assert "Vote to stop counted: 1/2" in vote.response.content
    assert sim.guild.id in station.controller.radios


async def test_with_a_dj_role_djs_act_and_others_vote(station: StationSim) -> None:
    sim = station.sim
    settings = await station.admin.slash(sim.channel, "settings radio", dj_role=station.dj_role)
    assert settings.response is not None
    assert "Saved" in settings.response.content
    assert settings.response.ephemeral
    await station.start(sim.alice, sim.bob, station.carol, station.dave)  # 4 listeners: 2 needed
    (message,) = station.now_playing()
    assert "DJs act at once" in station.text()

    for action, word in (("skip", "skip"), ("seed", "a new seed"), ("vup", "louder")):
        vote = await sim.bob.click(message, custom_id=station.button(action))
        assert vote.response is not None
        assert f"Vote for {word} counted (1/2)" in vote.response.content
    assert station.radio.station.status().volume == 1.0
    seconded = await station.dave.click(message, custom_id=station.button("vup"))
    assert seconded.response is not None
    assert "Volume 110 %" in seconded.response.content  # half of the listeners asked

    dj = await station.carol.click(message, custom_id=station.button("vdown"))
    assert dj.response is not None
    assert "Volume 100 %" in dj.response.content
    dj_skip = await station.carol.click(message, custom_id=station.button("skip"))
    assert dj_skip.response is not None
    assert "skipping to a new seed" in dj_skip.response.content

    # Steer: the modal; a DJ's wish is queued, anyone else's is a vote.
    shown = await station.carol.click(message, custom_id=station.button("steer"))
    assert shown.modal is not None
    queued = await station.carol.submit_modal(shown, {"radio-steer-prompt": "dub techno"})
    assert queued.response is not None
    assert "Queued: **dub techno** (next)" in queued.response.content
    shown = await sim.bob.click(message, custom_id=station.button("steer"))
    proposed = await sim.bob.submit_modal(shown, {"radio-steer-prompt": "polka"})
    assert proposed.response is not None
    assert "Vote for **polka** counted (1/2)" in proposed.response.content
    assert station.radio.station.status().up_next == ("dub techno",)

    # Save posts the last seconds for everyone.
    await station.play(2)
    saved = await sim.bob.click(message, custom_id=station.button("save"))
    assert saved.response is not None
    assert [a.filename for a in saved.response.attachments] == ["radio-1.mp3"]

    # A DJ may stop the radio; a listener without the role only votes.
    vote = await sim.bob.click(message, custom_id=station.button("stop"))
    assert vote.response is not None
    assert "Vote to stop counted" in vote.response.content
    stopped = await station.carol.click(message, custom_id=station.button("stop"))
    assert stopped.response is not None
    assert "stopped" in stopped.response.content
    assert sim.guild.id not in station.controller.radios
    (ended,) = station.now_playing()
    assert "The radio is off: stopped by a moderator" in (ended.embeds[0].description or "")
    assert ended.components == []  # no buttons on a radio that is off


async def test_settings_radio_is_for_admins(station: StationSim) -> None:
    sim = station.sim
    assert "settings radio" not in sim.bob.available_commands(sim.channel)
    shown = await station.admin.slash(sim.channel, "settings radio")
    assert shown.response is not None
    assert "DJ roles: none (everyone is a DJ) · volume 100 % · 24/7 off" in shown.response.content
    saved = await station.admin.slash(sim.channel, "settings radio", volume=40, always_on=True)
    assert saved.response is not None
    assert "volume 40 % · 24/7 on" in saved.response.content
    await station.start()
    assert station.radio.station.status().volume == pytest.approx(0.4)  # persisted, applied


# ------------------------------------------------------------------------------ queue, volume
async def test_the_queue_morphs_in_order_with_cooldown_and_duplicate_guard(
    station: StationSim,
) -> None:
    sim = station.sim
    await station.start(sim.alice, sim.bob)
    for member, prompt in ((sim.alice, "jazz"), (sim.bob, "dub")):
        result = await member.slash(sim.channel, "radio prompt", text=prompt)
        assert result.response is not None
        assert "Queued" in result.response.content
    too_soon = await sim.alice.slash(sim.channel, "radio prompt", text="metal")
    assert too_soon.response is not None
    assert too_soon.response.ephemeral
    assert "try again in 20 s" in too_soon.response.content
    station.clock.now += 30
    duplicate = await sim.alice.slash(sim.channel, "radio prompt", text="JAZZ")
    assert duplicate.response is not None
    assert duplicate.response.ephemeral
    assert "already in the queue" in duplicate.response.content
    await station.play()
    assert "**Queue:** 1. jazz · 2. dub" in station.text()
    await station.play(10)
    ends = [r.end.prompt for r in station.generator.requests if r.end is not None]
    morphs = [p for i, p in enumerate(ends) if p != "lofi" and (i == 0 or ends[i - 1] != p)]
    assert morphs == ["jazz", "dub"]  # four clips each, in order, then the seed walk
    assert ends.count("jazz") == 4
    assert ends[-1] == "dub"


async def test_volume_is_applied_to_the_pcm_sent(station: StationSim) -> None:
    sim = station.sim
    await station.start()
    loud = pcm16_to_float(b"".join(await station.play()))
    (message,) = station.now_playing()
    for _ in range(5):  # 100 % -> 50 %
        await sim.alice.click(message, custom_id=station.button("vdown"))
    quiet = pcm16_to_float(b"".join(await station.play()))
    ratio = float(np.sqrt(np.mean(quiet[1000:] ** 2)) / np.sqrt(np.mean(loud[1000:] ** 2)))
    assert ratio == pytest.approx(0.5, abs=0.1)
    assert "🔊 **50 %**" in station.text()


# ------------------------------------------------------------------------------ 24/7
async def test_24_7_stays_paused_in_an_empty_channel_and_plays_at_once(
    station: StationSim,
) -> None:
    sim = station.sim
    await station.admin.slash(sim.channel, "settings radio", always_on=True)
    await station.start()
    await station.play()
    radio = station.radio
    buffered = radio.station.status().buffered_clips
    made = len(station.generator.requests)
    await sim.alice.leave_voice()
    assert station.link.paused
    assert radio.station.status().paused
    assert any("waits here (24/7)" in m.content for m in sim.channel.history())
    station.clock.now += 3600  # an hour with nobody there
    await radio.supervisor.check()
    assert not station.link.disconnected
    assert len(station.generator.requests) == made  # nothing generated for nobody
    await sim.alice.join_voice(station.voice)
    assert not station.link.paused
    assert not radio.station.status().paused
    assert radio.station.status().buffered_clips == buffered  # the buffer was kept
    await station.play()
    assert len(station.generator.requests) > made


async def test_without_24_7_an_empty_channel_pauses_then_leaves(station: StationSim) -> None:
    sim = station.sim
    await station.start()
    await sim.alice.leave_voice()
    assert station.link.paused
    station.clock.now += 61
    await station.radio.supervisor.check()
    await sim.env.settle()
    assert station.link.disconnected
    assert sim.guild.id not in station.controller.radios


# ------------------------------------------------------------------------------ restart
async def test_the_now_playing_message_and_its_buttons_survive_a_restart(
    station: StationSim,
) -> None:
    sim = station.sim
    await station.start()
    await station.play()
    (before,) = station.now_playing()
    await sim.bot.remove_cog("radio")  # what bot.close() does; the session stays active
    await sim.restart(GatedRunner(auto=True))
    await sim.env.settle()
    assert sim.guild.id in station.controller.radios  # resumed on ready
    station_ = station.radio.station
    assert isinstance(station_, RadioStation)
    await station_.wait_ready()
    station.clock.now += 10
    await station.play()
    (after,) = station.now_playing()
    assert after.id == before.id  # the same message, edited by the new process
    louder = await sim.alice.click(after, custom_id=station.button("vup"))
    assert louder.response is not None
    assert "Volume 110 %" in louder.response.content
