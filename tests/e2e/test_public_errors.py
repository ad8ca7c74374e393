"""Public failure messages name the person's own file, never a server path, an internal
upload id or an operator hint; a rejected upload does not stay on disk."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.db_store import DbStore
from generation.types import InvalidRequest, ModelError
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner


async def test_a_failure_names_the_users_file_and_the_upload_is_deleted(
    sim: Sim, gated_runner: GatedRunner, caplog: pytest.LogCaptureFixture
) -> None:
    result = await sim.alice.slash(
        sim.channel, "riff", prompt="from my take", attachment=("my take.wav", b"RIFF" + bytes(64))
    )
    submitted = gated_runner.submitted[0]
    upload = Path(str(submitted.request.seed_image))
    assert await asyncio.to_thread(upload.exists)
    gated_runner.failures[submitted.job_id] = InvalidRequest(f"The seed image '{upload}' is empty.")
    gated_runner.release(submitted.job_id)
    with caplog.at_level(logging.WARNING):
        await sim.finish(submitted.job_id)

    assert result.response is not None
    text = result.response.content
    assert "'my take.wav' is empty" in text
    assert str(upload.parent) not in text
    assert upload.stem not in text  # the internal id (the interaction's)
    assert not await asyncio.to_thread(upload.exists)
    assert str(upload) in caplog.text  # the operator still sees where
    job = await sim.store.get_job(submitted.job_id)
    assert job is not None
    assert job.error is not None
    assert str(upload.parent) not in job.error


async def test_a_model_problem_is_a_short_public_line_and_a_log_entry(
    sim: Sim, gated_runner: GatedRunner, caplog: pytest.LogCaptureFixture
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="anything")
    job_id = gated_runner.submitted[0].job_id
    gated_runner.failures[job_id] = ModelError(
        "There is no model at '/nope'. Set RIFFBOT_MODEL to a diffusers folder."
    )
    gated_runner.release(job_id)
    with caplog.at_level(logging.ERROR):
        await sim.finish(job_id)
    assert result.response is not None
    assert "the bot is misconfigured; its operator has been told" in result.response.content
    assert "/nope" not in result.response.content
    assert "RIFFBOT_MODEL" not in result.response.content
    assert "/nope" in caplog.text


async def test_an_upload_refused_after_download_is_deleted_at_once(
    gated_runner: GatedRunner, store: DbStore, bot_config: BotConfig
) -> None:
    async def twenty_minutes(path: Path) -> float:
        return 1200.0

    async with open_sim(gated_runner, store, bot_config, probe=twenty_minutes) as sim:
        result = await sim.alice.slash(
            sim.channel, "remix", audio=("long.wav", b"RIFF" + bytes(64)), prompt="organ"
        )
        assert result.response is not None
        assert "1200 s long" in result.response.content
        uploads = bot_config.out_dir / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []
        assert gated_runner.submitted == []


def test_public_error_keeps_prose_and_replaces_paths() -> None:
    from bot.messages import public_error

    assert public_error("Strength 0.05/1 w/ drums; try `/riff`.") == (
        "Strength 0.05/1 w/ drums; try `/riff`."
    )
    assert public_error("Cannot read '/srv/riffbot/outputs/12/x.raw.png'.") == (
        "Cannot read 'your file'."
    )
    windows = r"C:\data\uploads\99.wav"
    assert public_error(f"Bad file {windows}, sorry", {windows: "a.wav"}) == "Bad file a.wav, sorry"
