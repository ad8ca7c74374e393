"""``/radio`` through simulated Discord: real discord.py, real bot, real command group.

SimCord cannot open a bot voice connection, so the radio's :class:`Connector` is the fake
one from the voice tests (as ``bot.voice`` documents); everything else, from slash options
to members' voice states, is SimCord's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import simcord

from bot.config import BotConfig
from bot.radio.cog import RadioCog, radio_extension
from bot.radio.controller import RadioController
from bot.radio.deps import RadioConfig, RadioDeps
from generation.radio import RadioStation
from generation.radio_plan import RadioSettings, RadioState
from generation.radio_sim import SyntheticGenerator
from tests.bot.test_voice import FakeClock, FakeConnector
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner, MemoryRadioStore, MemoryStore


class RadioSim:
    def __init__(self, sim: Sim, connector: FakeConnector, voice: simcord.ChannelHandle) -> None:
        self.sim = sim
        self.connector = connector
        self.voice = voice

    @property
    def controller(self) -> RadioController:
        cog = self.sim.bot.get_cog("radio")
        assert isinstance(cog, RadioCog)
        return cog.controller


@pytest.fixture
async def radio(tmp_path: Path) -> AsyncIterator[RadioSim]:
    connector = FakeConnector()
    generator = SyntheticGenerator()

    env: list[simcord.Env] = []

    async def idle(wait: Any) -> Any:
        # The prefetcher resting with a full buffer is waiting for listeners, not hanging.
        return await env[0].external_wait(wait, reason="radio buffer full")

    def make_station(state: RadioState, hooks: Any, owner: str) -> RadioStation:
        return RadioStation(generator, state, hooks=hooks, ahead=1, idle_wait=idle)

    store = MemoryStore()
    deps = RadioDeps(
        make_station=make_station,
        store=MemoryRadioStore(),
        jobs=store,
        encode_mp3=lambda pcm, rate: b"ID3" + bytes(64),
        config=RadioConfig(settings=RadioSettings(steps=3), run_watchdog=False),
        connector=connector,
        clock=FakeClock(),
    )
    config = BotConfig(out_dir=tmp_path / "outputs", default_steps=3, progress_interval_s=0.0)
    async with open_sim(
        GatedRunner(auto=True), store, config, extensions=[radio_extension(deps)]
    ) as sim:
        env.append(sim.env)
        voice = sim.guild.create_voice_channel("lounge")
        await sim.env.settle()
        yield RadioSim(sim, connector, voice)
        await sim.bot.remove_cog("radio")  # the unload path: the controller shuts down


async def test_start_needs_a_voice_channel(radio: RadioSim) -> None:
    sim = radio.sim
    result = await sim.alice.slash(sim.channel, "radio start", prompt="lofi piano")
    assert result.response is not None
    assert "Join a voice channel first" in result.response.content
    assert radio.connector.links == []


async def test_start_in_a_stage_channel_is_refused_with_a_reason(radio: RadioSim) -> None:
    sim = radio.sim
    stage = sim.guild.create_stage_channel("talks")
    await sim.env.settle()
    await sim.alice.join_voice(stage)
    result = await sim.alice.slash(sim.channel, "radio start", prompt="lofi piano")
    assert result.response is not None
    assert result.response.ephemeral
    assert "not stage channels" in result.response.content
    assert radio.connector.links == []


async def test_start_prompt_status_and_stop_votes(radio: RadioSim) -> None:
    sim = radio.sim
    await sim.alice.join_voice(radio.voice)
    await sim.bob.join_voice(radio.voice)
    result = await sim.alice.slash(sim.channel, "radio start", prompt="lofi piano")
    assert result.response is not None
    assert "Radio on in" in result.response.content
    assert "lofi piano" in result.response.content
    assert [link.channel_id for link in radio.connector.links] == [radio.voice.id]

    queued = await sim.bob.slash(sim.channel, "radio prompt", text="dark techno")
    assert queued.response is not None
    assert "Queued: **dark techno** (next)" in queued.response.content

    status = await sim.bob.slash(sim.channel, "radio status")
    assert status.response is not None
    assert "**Up next:** dark techno" in status.response.content
    assert "**Listeners:** 2" in status.response.content

    vote = await sim.bob.slash(sim.channel, "radio stop")
    assert vote.response is not None
    assert "stopped by a vote (1/1)" in vote.response.content  # half of two listeners
    assert sim.guild.id not in radio.controller.radios
    assert radio.connector.links[0].disconnected


async def test_outsiders_cannot_steer(radio: RadioSim) -> None:
    sim = radio.sim
    await sim.alice.join_voice(radio.voice)
    await sim.alice.slash(sim.channel, "radio start", prompt="lofi")
    refused = await sim.bob.slash(sim.channel, "radio prompt", text="metal")
    assert refused.response is not None
    assert "Join the radio's voice channel" in refused.response.content
    stop = await sim.bob.slash(sim.channel, "radio stop")
    assert stop.response is not None
    assert "Only listeners" in stop.response.content
    assert sim.guild.id in radio.controller.radios


async def test_save_posts_the_last_seconds_as_an_mp3(radio: RadioSim) -> None:
    sim = radio.sim
    await sim.alice.join_voice(radio.voice)
    await sim.alice.slash(sim.channel, "radio start", prompt="lofi")
    early = await sim.alice.slash(sim.channel, "radio save")
    assert early.response is not None
    assert "has not played anything yet" in early.response.content
    station = radio.controller.radios[sim.guild.id].station
    await station.wait_ready()  # type: ignore[attr-defined]
    source = radio.connector.links[0].source
    assert source is not None
    for _ in range(300):  # six seconds of discord.py's player reading
        source.read()
    saved = await sim.alice.slash(sim.channel, "radio save")
    assert saved.response is not None
    assert "The last" in saved.response.content
    assert [a.filename for a in saved.response.attachments] == ["radio-1.mp3"]


async def test_the_radio_pauses_when_the_last_listener_leaves(radio: RadioSim) -> None:
    sim = radio.sim
    await sim.alice.join_voice(radio.voice)
    await sim.alice.slash(sim.channel, "radio start", prompt="lofi")
    await sim.alice.leave_voice()
    assert radio.connector.links[0].paused
    notices = [m.content for m in sim.channel.history() if "Nobody is in the voice" in m.content]
    assert len(notices) == 1
    await sim.alice.join_voice(radio.voice)
    assert not radio.connector.links[0].paused
    assert any("listening again" in m.content for m in sim.channel.history())


async def test_unloading_the_cog_leaves_voice_and_keeps_the_session_to_resume(
    radio: RadioSim,
) -> None:
    sim = radio.sim
    await sim.alice.join_voice(radio.voice)
    await sim.alice.slash(sim.channel, "radio start", prompt="lofi")
    controller = radio.controller
    await sim.bot.remove_cog("radio")  # what bot.close() does to every cog
    assert controller.radios == {}
    assert radio.connector.links[0].disconnected
    sessions = await controller.deps.store.active_sessions()
    assert [(s.guild_id, s.state.prompt) for s in sessions] == [(sim.guild.id, "lofi")]
    assert "radio" not in [command.name for command in sim.bot.tree.get_commands()]
