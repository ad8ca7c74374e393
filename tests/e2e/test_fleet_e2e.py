"""The bot on the fleet when the generation cluster cannot be reached: it says so, keeps the job
queued in the database, and delivers it once the cluster is back."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.db_store import DbStore
from bot.store import Status
from generation.fleet.deploy import FleetConfig, app_handle, deploy
from generation.fleet.runner import FleetRunner, Handle
from tests.e2e.harness import WAIT_S, open_sim
from tests.generation.fleet.standin import StandIn

pytestmark = pytest.mark.usefixtures("ray_cluster")

APP = "e2e-unreachable"


async def test_the_bot_says_the_cluster_is_unreachable_and_runs_the_job_when_it_is_back(
    store: DbStore, bot_config: BotConfig, tmp_path: Path
) -> None:
    from ray import serve

    failed = threading.Event()

    def connect() -> Handle:
        try:
            return app_handle(APP)
        except Exception:
            failed.set()
            raise

    # SimCord runs the reconnection timer on its virtual clock: the test moves it on.
    runner = FleetRunner(connect, reconnect_s=5.0)
    try:
        async with open_sim(runner, store, bot_config) as sim:
            result = await sim.alice.slash(sim.channel, "riff", prompt="patient", seed=3)
            job_id = (await sim.store.recent_jobs(sim.alice.id))[0].id
            assert await asyncio.to_thread(failed.wait, WAIT_S)
            await sim.env.settle()
            assert result.response is not None
            assert "cannot be reached right now" in result.response.content
            job = await sim.store.get_job(job_id)
            assert job is not None
            assert job.status is Status.QUEUED  # kept, not failed

            await asyncio.to_thread(deploy, StandIn(str(tmp_path / "log")), FleetConfig(APP))
            await sim.env.advance_time(5.0)  # the runner tries again: the cluster is back
            await sim.finish(job_id)
            job = await sim.store.get_job(job_id)
            assert job is not None
            assert job.status is Status.DONE
            assert job.files is not None
            assert job.files.mp3.read_bytes().startswith(b".mp3 of patient")
            assert "🎵" in result.response.content
    finally:
        serve.delete(APP)
