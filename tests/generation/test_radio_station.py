"""The station: prefetch keeps clips ahead, morphs follow the queue, failures never go silent.

Everything runs on a virtual clock, so "ten minutes of radio" takes a second and the same
thing happens every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from generation.radio import KeptClip, RadioStation, engine_generator, pcm_to_mp3
from generation.radio_plan import RadioState, initial_state, next_request
from generation.radio_sim import SyntheticClip, SyntheticGenerator, VirtualTimeLoop, synth_clip
from generation.radio_stream import pcm16_to_float
from generation.radio_types import FRAME_BYTES
from generation.types import ClipFiles, GenerationRequest, InvalidRequest, Priority

T = TypeVar("T")


def run_virtual(make: Callable[[], Awaitable[T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(make())
    finally:
        loop.close()


async def play(station: RadioStation, seconds: float) -> list[bytes]:
    """Read frames every 20 ms of (virtual) time, as discord.py's player does."""
    frames = []
    for _ in range(round(seconds * 50)):
        frames.append(station.read())
        await asyncio.sleep(0.02)
    return frames


class RecordingHooks:
    def __init__(self) -> None:
        self.requested: list[tuple[str, str | None]] = []
        self.finished: list[tuple[str, str | None]] = []
        self.playing: list[tuple[str, RadioState]] = []

    async def clip_requested(self, request: GenerationRequest, parent_job_id: str | None) -> str:
        job_id = f"job{len(self.requested)}"
        self.requested.append((job_id, parent_job_id))
        return job_id

    async def clip_finished(self, job_id: str, error: str | None, files: object) -> None:
        self.finished.append((job_id, error))

    async def clip_playing(self, job_id: str, state: RadioState) -> None:
        self.playing.append((job_id, state))


def test_prefetch_keeps_exactly_ahead_clips_and_follows_the_plan() -> None:
    gen = SyntheticGenerator(rtf=2.0)

    async def main() -> tuple[int, int, list[GenerationRequest]]:
        station = RadioStation(gen, initial_state("lofi", 7), ahead=3)
        await station.start()
        await asyncio.sleep(60)  # nobody reads: the buffer fills and stops
        idle = (station.stream.ready_count(), len(gen.requests))
        await station.wait_ready()
        await play(station, 30)
        await station.stop()
        return (*idle, gen.requests)

    ready, made, requests = run_virtual(main)
    assert (ready, made) == (3, 3)
    state = initial_state("lofi", 7)
    expected = []
    for _ in requests:
        request, state = next_request(state)
        expected.append(request)
    assert requests == expected
    assert len(requests) >= 3 + 5  # 30 s of listening consumed about six 5.1 s clips


def test_minutes_at_rtf_1_2_never_underrun() -> None:
    async def main() -> tuple[RadioStation, list[bytes]]:
        station = RadioStation(SyntheticGenerator(rtf=1.2), initial_state("jazz", 1))
        await station.start()
        await station.wait_ready()
        frames = await play(station, 150)  # the benchmark runs ten minutes
        await station.stop()
        return station, frames

    station, frames = run_virtual(main)
    assert {len(f) for f in frames} == {FRAME_BYTES}
    assert station.stream.stats.underruns == 0
    assert station.status().clips_played >= 28


def test_a_slow_generator_loops_instead_of_going_silent() -> None:
    async def main() -> tuple[RadioStation, list[bytes]]:
        station = RadioStation(SyntheticGenerator(rtf=0.7), initial_state("jazz", 1))
        await station.start()
        await station.wait_ready()
        frames = await play(station, 60)
        await station.stop()
        return station, frames

    station, frames = run_virtual(main)
    assert station.stream.stats.underruns > 0
    signal = pcm16_to_float(b"".join(frames[5:]))
    frame_rms = np.sqrt((signal**2).reshape(-1, 1920).mean(axis=1))
    assert frame_rms.min() > 0.01
    assert station.status().underruns == station.stream.stats.underruns


def test_queued_prompts_morph_in_order_and_survive_generation() -> None:
    gen = SyntheticGenerator(rtf=1.5)

    async def main() -> RadioStation:
        station = RadioStation(gen, initial_state("a", 0), ahead=2)
        await station.start()
        await station.wait_ready()
        await play(station, 3)
        assert station.queue_prompt("b") == 1
        await play(station, 1)
        assert station.queue_prompt("c") == 2
        status = station.status()
        assert status.up_next == ("b", "c")
        await play(station, 90)
        await station.stop()
        return station

    run_virtual(main)
    morphs = [(r.start.prompt, r.end.prompt) for r in gen.requests if r.end and r.alpha == 0.25]
    assert morphs[:4] == [("a", "a"), ("a", "b"), ("b", "c"), ("c", "c")]


def test_failures_are_retried_recorded_and_inaudible() -> None:
    gen = SyntheticGenerator(rtf=3.0)
    hooks = RecordingHooks()

    async def main() -> tuple[RadioStation, list[bytes]]:
        station = RadioStation(
            gen, initial_state("x", 0), hooks=hooks, ahead=2, retry_delays=(0.5, 1.0)
        )
        await station.start()
        await station.wait_ready()
        frames = await play(station, 4)
        gen.fail_next = 2
        frames += await play(station, 30)
        await station.stop()
        return station, frames

    station, frames = run_virtual(main)
    errors = [e for _, e in hooks.finished if e is not None]
    assert errors == ["synthetic generator failure"] * 2
    assert station.status().last_error is None  # cleared by the next success
    # Every job names the previous successful clip as its parent: the lineage has no holes.
    parents = dict(hooks.requested)
    done = [j for j, e in hooks.finished if e is None]
    assert [parents[j] for j in done[1:]] == done[:-1]
    # Retried requests are the same request: the walk did not skip a step.
    state = initial_state("x", 0)
    for request in gen.requests:
        expected, state = next_request(state)
        assert request == expected
    assert all(len(f) == FRAME_BYTES for f in frames)


def test_playing_hook_gives_a_resume_point_that_continues_the_walk() -> None:
    gen = SyntheticGenerator(rtf=2.0)
    hooks = RecordingHooks()

    async def main() -> RadioStation:
        station = RadioStation(gen, initial_state("x", 0), hooks=hooks, ahead=3)
        await station.start()
        await station.wait_ready()
        await play(station, 12)
        station.queue_prompt("y")
        await play(station, 0.1)
        await station.stop()
        return station

    station = run_virtual(main)
    assert [j for j, _ in hooks.playing] == [j for j, _ in hooks.requested][: len(hooks.playing)]
    resume = station.resume_state()
    assert resume == RadioState.from_dict(resume.to_dict())
    job, played_state = hooks.playing[-1]
    assert (resume.prompt, resume.seed, resume.alpha) == (
        played_state.prompt,
        played_state.seed,
        played_state.alpha,
    )
    assert resume.up_next == ("y",)
    # A restarted station asks for exactly the clip that came after the one playing.
    index = [j for j, _ in hooks.requested].index(job)
    after_restart, _ = next_request(resume.__class__(**{**resume.__dict__, "up_next": ()}))
    assert after_restart == gen.requests[index + 1]


def test_pause_stops_generation_and_resume_restarts_it() -> None:
    gen = SyntheticGenerator(rtf=2.0)

    async def main() -> tuple[int, int, int]:
        station = RadioStation(gen, initial_state("x", 0), ahead=2)
        await station.start()
        await station.wait_ready()
        station.pause()
        await play(station, 20)
        paused = len(gen.requests)
        await play(station, 20)
        still = len(gen.requests)
        station.resume()
        await play(station, 20)
        await station.stop()
        return paused, still, len(gen.requests)

    paused, still, resumed = run_virtual(main)
    assert paused == still <= 2 + 1
    assert resumed > still


def test_snapshot_has_the_heard_audio_and_its_jobs() -> None:
    hooks = RecordingHooks()

    async def main() -> RadioStation:
        station = RadioStation(SyntheticGenerator(rtf=2.0), initial_state("x", 0), hooks=hooks)
        await station.start()
        await station.wait_ready()
        await play(station, 20)
        await station.stop()
        return station

    station = run_virtual(main)
    snap = station.snapshot(12.0)
    assert snap.seconds == pytest.approx(12.0)
    played = [j for j, _ in hooks.playing]
    assert list(snap.job_ids) == played[-len(snap.job_ids) :]
    assert 3 <= len(snap.job_ids) <= 4
    mp3 = pcm_to_mp3(snap.pcm[: 48_000 * 4])
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF


def test_queue_limits_reach_the_caller() -> None:
    station = RadioStation(SyntheticGenerator(), initial_state("x", 0), max_up_next=1)
    station.queue_prompt("one")
    with pytest.raises(InvalidRequest, match="already waiting"):
        station.queue_prompt("two")


def test_engine_clips_run_at_radio_priority_and_keep_their_files(tmp_path: Path) -> None:
    calls: list[dict[str, object]] = []

    class FakeEngine:
        async def generate(
            self,
            request: GenerationRequest,
            *,
            job_id: str,
            owner: str,
            priority: Priority,
            on_progress: object = None,
        ) -> SyntheticClip:
            calls.append({"job_id": job_id, "owner": owner, "priority": priority})
            return SyntheticClip(synth_clip(request), 44_100)

    def write(result: object, out_dir: Path, stem: str) -> ClipFiles:
        path = out_dir / f"{stem}.mp3"
        path.write_bytes(b"ID3")
        return ClipFiles(path, path, path, path, 5.11)

    generate = engine_generator(FakeEngine(), owner="radio:7", out_dir=tmp_path, write=write)
    request, _ = next_request(initial_state("x", 0))

    async def once() -> object:
        return await generate(request, "42")

    clip = asyncio.run(once())
    assert calls == [{"job_id": "42", "owner": "radio:7", "priority": Priority.RADIO}]
    assert isinstance(clip, KeptClip)
    assert clip.files is not None
    assert clip.files.mp3 == tmp_path / "radio-42.mp3"
    assert clip.audio.shape == (2, 225_351)


def test_several_stations_share_one_loop_independently() -> None:
    async def main() -> tuple[RadioStation, RadioStation]:
        a = RadioStation(SyntheticGenerator(rtf=2.5), initial_state("a", 1), ahead=2)
        b = RadioStation(SyntheticGenerator(rtf=2.5), initial_state("b", 2), ahead=2)
        await a.start()
        await b.start()
        await a.wait_ready()
        await b.wait_ready()
        for _ in range(30 * 50):
            a.read()
            b.read()
            await asyncio.sleep(0.02)
        await a.stop()
        await b.stop()
        return a, b

    a, b = run_virtual(main)
    assert a.status().underruns == b.status().underruns == 0
    assert (a.status().now_playing or "").startswith("a ")
    assert (b.status().now_playing or "").startswith("b ")


def test_a_failing_job_record_does_not_stop_the_radio() -> None:
    class FlakyHooks(RecordingHooks):
        def __init__(self) -> None:
            super().__init__()
            self.fail = 2

        async def clip_requested(self, request: GenerationRequest, parent: str | None) -> str:
            if self.fail:
                self.fail -= 1
                raise OSError("database is locked")
            return await super().clip_requested(request, parent)

    hooks = FlakyHooks()

    async def main() -> RadioStation:
        station = RadioStation(
            SyntheticGenerator(rtf=3.0), initial_state("x", 0), hooks=hooks, retry_delays=(0.5,)
        )
        await station.start()
        await station.wait_ready()
        await play(station, 20)
        await station.stop()
        return station

    station = run_virtual(main)
    assert hooks.fail == 0
    assert station.status().clips_played >= 3
    assert station.status().last_error is None
