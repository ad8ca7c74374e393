"""The radio controller against fakes: joining, steering, votes, leaving, jobs, restart resume.

The station is the real one on an instant synthetic generator; Discord is a fake port (who
is in which channel, what got posted) and the voice connection a fake link whose source the
test reads from, standing in for discord.py's player thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.radio.controller import RadioController, RadioRefused, channel_status_text
from bot.radio.deps import RadioConfig, RadioDeps
from bot.radio.votes import decide_stop
from bot.store import GuildConfig, JobStore, Status
from bot.voice import RadioAudioSource, VoiceState, WatchdogConfig
from generation.radio import KeptClip, RadioStation
from generation.radio_plan import RadioSettings, RadioState, initial_state, next_request
from generation.radio_sim import SyntheticGenerator
from generation.radio_types import StationHooks
from generation.types import GenerationRequest
from tests.bot.test_voice import FakeClock, FakeConnector, FakeLink
from tests.fakes import MemoryRadioStore, MemoryStore, write_clip

GUILD, VOICE, TEXT = 1, 10, 20
ALICE, BOB, CAROL, DAVE = 101, 102, 103, 104
WAIT = 10.0  # a safety net against hangs, never a synchronisation mechanism


class FakePort:
    def __init__(self) -> None:
        self.members: dict[int, set[int]] = {VOICE: {ALICE, BOB}}
        self.posts: list[tuple[int | None, str]] = []
        self.statuses: list[tuple[int, str | None]] = []
        self.now_playing: dict[int, tuple[str, bytes | None]] = {}
        self.edits: list[int] = []

    def listeners(self, voice_channel_id: int) -> frozenset[int]:
        return frozenset(self.members.get(voice_channel_id, set()))

    async def post(self, text_channel_id: int | None, text: str) -> None:
        self.posts.append((text_channel_id, text))

    async def set_channel_status(self, voice_channel_id: int, text: str | None) -> None:
        self.statuses.append((voice_channel_id, text))

    async def post_now_playing(
        self, guild_id: int, text_channel_id: int | None, text: str, png: bytes | None
    ) -> int | None:
        message_id = 9000 + len(self.now_playing)
        self.now_playing[message_id] = (text, png)
        return message_id

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
        if message_id not in self.now_playing:
            return False
        self.now_playing[message_id] = (text, png)
        self.edits.append(message_id)
        return True


class SignallingStore(MemoryRadioStore):
    """Lets a test wait for "a clip started playing" without sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.saved = asyncio.Event()
        self.saves = 0

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        await super().save_state(session_id, state, paused=paused)
        self.saves += 1
        self.saved.set()

    async def wait_saves(self, count: int) -> None:
        while self.saves < count:
            self.saved.clear()
            await asyncio.wait_for(self.saved.wait(), WAIT)


class Rig:
    def __init__(
        self, tmp_path: Path, store: SignallingStore | None = None, jobs: JobStore | None = None
    ) -> None:
        self.tmp_path = tmp_path
        self.port = FakePort()
        self.connector = FakeConnector()
        self.clock = FakeClock()
        self.store = store or SignallingStore()
        self.jobs: Any = jobs or MemoryStore()
        self.generator = SyntheticGenerator()
        self.stations: list[RadioStation] = []
        config = RadioConfig(
            settings=RadioSettings(steps=5),
            prompt_cooldown_s=20.0,
            save_seconds=4.0,
            watchdog=WatchdogConfig(stall_s=5.0, max_reconnects=2, empty_leave_s=60.0),
            run_watchdog=False,
        )
        self.deps = RadioDeps(
            make_station=self.make_station,
            store=self.store,
            jobs=self.jobs,
            encode_mp3=lambda pcm, rate: b"ID3" + len(pcm).to_bytes(8, "little"),
            config=config,
            connector=self.connector,
            clock=self.clock,
        )
        self.controller = RadioController(self.deps, self.port, self.connector)

    def make_station(self, state: RadioState, hooks: StationHooks, owner: str) -> RadioStation:
        async def generate(request: GenerationRequest, job_id: str) -> KeptClip:
            clip = await self.generator(request, job_id)
            files = write_clip(self.tmp_path / "radio", f"radio-{job_id}")
            return KeptClip(clip.audio, clip.sample_rate, files)

        station = RadioStation(generate, state, hooks=hooks, ahead=2)
        self.stations.append(station)
        return station

    async def start(self, prompt: str = "jazz", user: int = ALICE, seed: int = 5) -> None:
        await self.controller.start(
            guild_id=GUILD,
            voice_channel_id=VOICE,
            text_channel_id=TEXT,
            user_id=user,
            prompt=prompt,
            seed=seed,
        )

    async def listen(self, seconds: float) -> None:
        """Discord's player reading frames, then a wait until the newest clip is recorded."""
        source = self.connector.links[-1].source
        assert isinstance(source, RadioAudioSource)
        station = self.stations[-1]
        await station.wait_ready()
        saves, started = self.store.saves, station.stream.stats.clips_started
        for _ in range(round(seconds * 50)):
            self.clock.now += 0.02
            source.read()
            if station.stream.ready_count() == 0:
                await station.wait_ready()
        # Each clip that started playing saves the resume point once.
        await self.store.wait_saves(saves + station.stream.stats.clips_started - started)


@pytest.fixture
async def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_start_joins_plays_and_shows_the_prompt(rig: Rig) -> None:
    await rig.start("lofi piano")
    assert [link.channel_id for link in rig.connector.links] == [VOICE]
    assert isinstance(rig.connector.links[0].source, RadioAudioSource)
    assert rig.port.statuses == [(VOICE, "📻 lofi piano")]
    (saved,) = await rig.store.active_sessions()
    assert (saved.guild_id, saved.started_by, saved.state.prompt) == (GUILD, ALICE, "lofi piano")
    with pytest.raises(RadioRefused, match="already playing"):
        await rig.start("again")
    await rig.controller.shutdown()


async def test_every_clip_played_is_a_finished_job_with_its_parent(rig: Rig) -> None:
    await rig.start()
    await rig.listen(16)
    session = (await rig.store.active_sessions())[0].session_id
    job_ids = rig.store.clips[session]
    jobs = [rig.jobs.jobs[j] for j in job_ids]
    assert len(jobs) >= 4
    assert all(job.action == "radio" and job.user_id == ALICE for job in jobs)
    assert [job.parent_id for job in jobs] == [None, *job_ids[:-1]]
    done = [job for job in jobs if job.status is Status.DONE]
    assert len(done) >= 3
    assert all(job.files is not None and job.files.mp3.exists() for job in done)
    # The saved resume point is the clip playing now.
    playing = rig.stations[-1].status().now_job_id
    saved = (await rig.store.active_sessions())[0].state
    assert playing is not None
    assert (
        rig.jobs.jobs[playing].request
        == next_request(RadioState.from_dict({**saved.to_dict(), "alpha": saved.alpha - 0.25}))[0]
    )
    await rig.controller.shutdown()


async def test_prompts_need_presence_respect_the_cooldown_and_morph_in_order(rig: Rig) -> None:
    await rig.start("a")
    with pytest.raises(RadioRefused, match="Join the radio's voice channel"):
        await rig.controller.queue_prompt(guild_id=GUILD, user_id=CAROL, prompt="x")
    text = await rig.controller.queue_prompt(guild_id=GUILD, user_id=ALICE, prompt="b")
    assert "Queued: **b** (next)" in text
    rig.clock.now += 5
    with pytest.raises(RadioRefused, match="try again in 15 s"):
        await rig.controller.queue_prompt(guild_id=GUILD, user_id=ALICE, prompt="c")
    assert "#2 in line" in await rig.controller.queue_prompt(
        guild_id=GUILD, user_id=BOB, prompt="c"
    )
    with pytest.raises(RadioRefused, match="prompt is empty"):
        await rig.controller.queue_prompt(guild_id=GUILD, user_id=ALICE, prompt="   ")
    await rig.listen(60)
    morphs = [
        (r.start.prompt, r.end.prompt)
        for r in rig.generator.requests
        if r.end is not None and r.alpha == 0.25
    ]
    assert morphs[:3] == [("a", "a"), ("a", "b"), ("b", "c")]
    assert (VOICE, "📻 a → b") in rig.port.statuses
    assert (VOICE, "📻 b → c") in rig.port.statuses
    await rig.controller.shutdown()


def test_stop_rules() -> None:
    everyone = frozenset({ALICE, BOB, CAROL, DAVE})
    rule = decide_stop
    assert rule(
        ALICE, starter_id=ALICE, listeners=everyone, moderator=False, votes=frozenset()
    ).stop
    assert rule(BOB, starter_id=ALICE, listeners=everyone, moderator=True, votes=frozenset()).stop
    assert rule(
        BOB, starter_id=ALICE, listeners=frozenset({BOB}), moderator=False, votes=frozenset()
    ).stop
    outsider = rule(99, starter_id=ALICE, listeners=everyone, moderator=False, votes=frozenset())
    assert not outsider.stop
    assert not outsider.votes
    first = rule(BOB, starter_id=ALICE, listeners=everyone, moderator=False, votes=frozenset())
    assert (first.stop, len(first.votes), first.needed) == (False, 1, 2)
    second = rule(CAROL, starter_id=ALICE, listeners=everyone, moderator=False, votes=first.votes)
    assert second.stop
    # A vote from someone who has left no longer counts.
    gone = frozenset({CAROL, DAVE, ALICE})
    again = rule(DAVE, starter_id=ALICE, listeners=gone, moderator=False, votes=first.votes)
    assert (again.stop, again.votes, again.needed) == (False, frozenset({DAVE}), 2)


async def test_votes_stop_the_radio_and_clear_the_status(rig: Rig) -> None:
    rig.port.members[VOICE] = {ALICE, BOB, CAROL, DAVE}
    await rig.start()
    with pytest.raises(RadioRefused, match="Only listeners"):
        await rig.controller.request_stop(guild_id=GUILD, user_id=99, moderator=False)
    text = await rig.controller.request_stop(guild_id=GUILD, user_id=BOB, moderator=False)
    assert text == "🗳️ Vote to stop counted: 1/2."
    text = await rig.controller.request_stop(guild_id=GUILD, user_id=CAROL, moderator=False)
    assert "stopped by a vote (2/2)" in text
    assert GUILD not in rig.controller.radios
    assert rig.connector.links[0].disconnected
    assert rig.port.statuses[-1] == (VOICE, None)
    assert await rig.store.active_sessions() == []
    assert not rig.stations[0].running


async def test_a_second_start_while_the_first_is_joining_is_refused(rig: Rig) -> None:
    """Joining voice takes seconds; a start meanwhile must not build a second station."""
    joining, release = asyncio.Event(), asyncio.Event()
    connect = rig.connector.connect

    async def slow_connect(channel_id: int) -> FakeLink:
        joining.set()
        await release.wait()
        return await connect(channel_id)

    rig.connector.connect = slow_connect  # type: ignore[method-assign]
    first = asyncio.create_task(rig.start("a"))
    await asyncio.wait_for(joining.wait(), WAIT)
    with pytest.raises(RadioRefused, match="already playing"):
        await asyncio.wait_for(rig.start("b", user=BOB), WAIT)
    release.set()
    await asyncio.wait_for(first, WAIT)
    assert len(rig.stations) == 1
    assert len(await rig.store.active_sessions()) == 1
    await rig.controller.shutdown()


async def test_stopping_clears_the_channel_status_before_leaving(rig: Rig) -> None:
    """Once the bot has left, Discord wants Manage Channels to clear a voice channel status."""
    await rig.start()
    cleared_while_connected: list[bool] = []
    record = rig.port.set_channel_status

    async def set_channel_status(voice_channel_id: int, text: str | None) -> None:
        if text is None:
            cleared_while_connected.append(rig.connector.links[-1].connected)
        await record(voice_channel_id, text)

    rig.port.set_channel_status = set_channel_status  # type: ignore[method-assign]
    await rig.controller.request_stop(guild_id=GUILD, user_id=ALICE, moderator=False)
    assert cleared_while_connected == [True]
    assert rig.connector.links[0].disconnected


async def test_an_empty_channel_pauses_then_leaves_and_says_why(rig: Rig) -> None:
    await rig.start()
    radio = rig.controller.radios[GUILD]
    rig.port.members[VOICE] = set()
    await radio.supervisor.check()
    assert radio.supervisor.state is VoiceState.PAUSED_EMPTY
    assert rig.stations[0].status().paused
    assert "Nobody is in the voice channel" in rig.port.posts[-1][1]
    rig.clock.now += 61
    await radio.supervisor.check()
    assert GUILD not in rig.controller.radios
    assert rig.port.posts[-1] == (TEXT, "⏹️ The radio left: nobody was listening.")
    assert rig.store.stopped == {1: "⏹️ The radio left: nobody was listening."}


async def test_a_dead_connection_is_reconnected_with_the_same_station(rig: Rig) -> None:
    await rig.start()
    await rig.listen(2)
    radio = rig.controller.radios[GUILD]
    rig.connector.links[0].connected = False
    await radio.supervisor.check()
    assert len(rig.connector.links) == 2
    assert rig.connector.links[1].is_playing()
    played = rig.stations[0].status().clips_played
    await rig.listen(6)
    assert rig.stations[0].status().clips_played > played  # the same stream carried on
    assert len(rig.stations) == 1
    await rig.controller.shutdown()


async def test_a_restart_resumes_where_the_radio_was(tmp_path: Path) -> None:
    first = Rig(tmp_path)
    await first.start("a", seed=9)
    await first.listen(12)
    await first.controller.queue_prompt(guild_id=GUILD, user_id=BOB, prompt="b")
    playing = first.stations[0].status().now_job_id
    assert playing is not None
    await first.controller.shutdown()
    played_request = first.jobs.jobs[playing].request

    jobs_before = len(first.jobs.jobs)
    second = Rig(tmp_path, store=first.store, jobs=first.jobs)
    assert await second.controller.resume_all() == [GUILD]
    assert second.port.posts[-1][1].startswith("📻 The radio is back after a restart: a")
    await second.stations[0].wait_ready()
    resumed = second.generator.requests[0]
    # The lineage carries on: the first clip after the restart is the playing clip's child.
    first_after = list(second.jobs.jobs.values())[jobs_before]
    assert (first_after.request, first_after.parent_id) == (resumed, playing)
    # The first clip after the restart is the step after the clip that was playing.
    if played_request.alpha < 1.0:
        assert (resumed.start, resumed.end) == (played_request.start, played_request.end)
        assert resumed.alpha == played_request.alpha + 0.25
    else:
        assert resumed.start == played_request.end
        assert resumed.alpha == 0.25
    assert "b" in (
        second.stations[0].resume_state().target,
        *second.stations[0].resume_state().up_next,
    )
    await second.controller.shutdown()


async def test_status_and_save(rig: Rig) -> None:
    await rig.start("lofi")
    await rig.controller.queue_prompt(guild_id=GUILD, user_id=ALICE, prompt="metal")
    await rig.listen(6)
    text = rig.controller.status_text(GUILD)
    assert "**Now playing:** lofi" in text
    assert "**Up next:** metal" in text
    assert "**Buffer:**" in text
    assert "**Listeners:** 2" in text
    data, filename, message = await rig.controller.save(GUILD)
    assert data[:3] == b"ID3"
    assert int.from_bytes(data[3:], "little") == 4 * 48_000 * 4  # 4 s of 48 kHz stereo s16
    assert filename == "radio-1.mp3"
    assert "#1" in message or "#2" in message
    await rig.controller.shutdown()


async def test_nothing_to_steer_without_a_radio(rig: Rig) -> None:
    with pytest.raises(RadioRefused, match="No radio is playing"):
        rig.controller.status_text(GUILD)
    with pytest.raises(RadioRefused, match="No radio"):
        await rig.controller.request_stop(guild_id=GUILD, user_id=ALICE, moderator=True)


def test_channel_status_fits_discord() -> None:
    state = initial_state("x" * 400, 1)
    assert channel_status_text(state) == "📻 " + "x" * 400
    morph = RadioState.from_dict({**state.to_dict(), "target": "y" * 400})
    assert len(channel_status_text(morph)) == 500


async def test_the_servers_blocked_words_hold_for_the_radio_too(rig: Rig) -> None:
    """The radio takes members' words like /riff does: blocked words refuse a start and a
    steer, and control characters are tidied away before anyone sees the prompt."""
    rig.jobs.configs[GUILD] = GuildConfig(blocked_words=("gloom",))
    with pytest.raises(RadioRefused, match="blocked"):
        await rig.start("GLOOM metal")
    assert rig.connector.links == []  # refused before joining anything
    await rig.start("bass\u202e solo")
    assert rig.port.statuses == [(VOICE, "📻 bass solo")]
    with pytest.raises(RadioRefused, match="blocked"):
        await rig.controller.queue_prompt(guild_id=GUILD, user_id=ALICE, prompt="more gloom")
    assert rig.stations[-1].status().up_next == ()
    assert "Queued" in await rig.controller.queue_prompt(
        guild_id=GUILD,
        user_id=ALICE,
        prompt="glooming",  # whole words only, as elsewhere
    )
    await rig.controller.shutdown()
