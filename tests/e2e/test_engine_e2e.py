"""The bot on the REAL engine: the tiny model end to end, and the fair queue between users."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub

from bot.config import BotConfig
from bot.db_store import DbStore
from generation.engine import CancelCheck, Engine, StepCallback
from generation.types import ClipFiles, GenerationRequest
from tests.e2e.fleet_support import TinyEngine
from tests.e2e.harness import WAIT_S, Sim, open_sim
from tests.fakes import write_clip


@pytest.fixture(params=["local", "ray"])
def tiny_engine(request: pytest.FixtureRequest, tiny_dir: Path) -> Iterator[Any]:
    """The tiny model in the in-process engine, and in a Ray Serve replica (the fleet)."""
    if request.param == "ray":
        from ray import serve

        from generation.fleet.deploy import FleetConfig, app_handle, deploy
        from generation.fleet.runner import FleetRunner

        request.getfixturevalue("ray_cluster")
        deploy(TinyEngine(str(tiny_dir)), FleetConfig(app_name="e2e-tiny"))
        yield FleetRunner(lambda: app_handle("e2e-tiny"))
        serve.delete("e2e-tiny")
        return
    engine = TinyEngine(str(tiny_dir))()
    yield engine
    engine.close(cancel_running=True)


@pytest.fixture
def narrow(bot_config: BotConfig) -> BotConfig:
    """Short clips (1.28 s, the narrowest allowed; 2 steps, txt2img) keep the tiny model fast."""
    return replace(bot_config, clip_width=128, default_steps=2, default_seed_image=None)


async def test_riff_on_the_tiny_model_delivers_a_real_mp3_and_picture(
    tiny_engine: Any, store: DbStore, narrow: BotConfig
) -> None:
    async with open_sim(tiny_engine, store, narrow) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="tiny noise", seed=3)
        job_id = (await sim.store.recent_jobs(sim.alice.id))[0].id
        await sim.finish(job_id)

        assert result.response is not None
        names = [a.filename for a in result.response.attachments]
        assert names == [f"riff-{job_id}.mp3", f"riff-{job_id}.png"]
        sizes = [a.size for a in result.response.attachments]
        assert all(size > 1000 for size in sizes)
        job = await sim.store.get_job(job_id)
        assert job is not None
        assert job.status.value == "done"
        assert job.files is not None
        assert job.files.mp3.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
        assert job.files.duration_s == pytest.approx(1.28, abs=0.02)


class HeldRunner:
    """A batch runner for the real ``Engine`` whose first request waits for the test."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.started = threading.Event()
        self.first = True

    def __call__(
        self,
        model: Any,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> list[GenerationRequest]:
        if self.first:
            self.first = False
            self.started.set()
            assert self.hold.wait(WAIT_S)
        for callback in on_steps:
            callback(1, 1, None)
        return list(requests)


@pytest.fixture
def held() -> HeldRunner:
    return HeldRunner()


@pytest.fixture
def fair_engine(held: HeldRunner) -> Iterator[Engine[Any, Any]]:
    def writer(request: GenerationRequest, out_dir: Path, stem: str) -> ClipFiles:
        return write_clip(out_dir, stem)

    engine: Engine[Any, Any] = Engine(
        loader=lambda: None, batch_runner=held, writer=writer, max_per_owner=2, max_queued=6
    )
    yield engine
    held.hold.set()
    engine.close(cancel_running=True)


@pytest.fixture
async def fair_sim(
    fair_engine: Engine[Any, Any], store: DbStore, bot_config: BotConfig
) -> AsyncIterator[Sim]:
    async with open_sim(fair_engine, store, bot_config) as sim:
        yield sim


async def test_the_shared_engine_takes_users_in_turn(fair_sim: Sim, held: HeldRunner) -> None:
    sim = fair_sim
    await sim.alice.slash(sim.channel, "riff", prompt="alice one")
    assert await asyncio.to_thread(held.started.wait, WAIT_S)
    second = await sim.alice.slash(sim.channel, "riff", prompt="alice two")
    bobs = await sim.bob.slash(sim.channel, "riff", prompt="bob one")
    alice_jobs = [job.id for job in reversed(await sim.store.recent_jobs(sim.alice.id))]
    bob_job = (await sim.store.recent_jobs(sim.bob.id))[0].id

    # Bob arrived last but has not been served: he goes before alice's second job.
    assert bobs.response is not None
    assert "#1 in the queue" in bobs.response.content
    assert second.response is not None
    assert "#2 in the queue" in second.response.content

    held.hold.set()
    await sim.finish(*alice_jobs, bob_job)
    assert sim.runner.order == [alice_jobs[0], bob_job, alice_jobs[1]]
    for job_id in (*alice_jobs, bob_job):
        job = await sim.store.get_job(job_id)
        assert job is not None
        assert job.status.value == "done"


async def test_cancelling_a_queued_job_on_the_real_engine(fair_sim: Sim, held: HeldRunner) -> None:
    sim = fair_sim
    await sim.alice.slash(sim.channel, "riff", prompt="blocking")
    assert await asyncio.to_thread(held.started.wait, WAIT_S)
    waiting = await sim.bob.slash(sim.channel, "riff", prompt="waiting")
    bob_job = (await sim.store.recent_jobs(sim.bob.id))[0].id
    assert waiting.response is not None
    await sim.bob.click(waiting.response, custom_id=f"riff:cancel:{bob_job}")
    await sim.finish(bob_job)
    assert waiting.response is not None
    assert "was cancelled" in waiting.response.content
    held.hold.set()
    alice_job = (await sim.store.recent_jobs(sim.alice.id))[0].id
    await sim.finish(alice_job)
    job = await sim.store.get_job(bob_job)
    assert job is not None
    assert job.status.value == "cancelled"


async def test_riff_takes_on_the_tiny_model_post_one_set_on_both_engines(
    tiny_engine: Any, store: DbStore, narrow: BotConfig
) -> None:
    """Takes travel the runner interface too: one batch in-process, jobs of their own on the
    fleet; either way the set posts once with every take's MP3."""
    async with open_sim(tiny_engine, store, narrow) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="tiny noise", seed=5, takes=2)
        jobs = await sim.store.recent_jobs(sim.alice.id, 10)
        set_job = next(job for job in jobs if job.action == "takes")
        takes = await sim.store.takes_of(set_job.id, sim.guild.id)
        await sim.finish(*(take.id for take in takes))

        assert [take.request.start.seed for take in takes] == [5, 6]
        finished = [await sim.store.get_job(take.id) for take in takes]
        assert [job.status.value for job in finished if job is not None] == ["done", "done"]
        assert result.response is not None
        names = [a.filename for a in result.response.attachments]
        assert names[:2] == [f"take1-{takes[0].id}.mp3", f"take2-{takes[1].id}.mp3"]
        assert all(a.size > 1000 for a in result.response.attachments[:2])
