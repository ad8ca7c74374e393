"""Per-user limits, the queue cap, /queue, and cancelling by button and by command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.store import JobRecord
from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def test_per_user_limit_refuses_privately_and_others_still_get_in(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    await sim.alice.slash(sim.channel, "riff", prompt="one")
    await sim.alice.slash(sim.channel, "riff", prompt="two")
    third = await sim.alice.slash(sim.channel, "riff", prompt="three")

    assert third.response is not None
    assert third.response.ephemeral
    assert "You already have 2 jobs queued or running" in third.response.content
    assert len(gated_runner.submitted) == 2
    assert len(await sim.store.recent_jobs(sim.alice.id)) == 2  # nothing written for the refusal

    other = await sim.bob.slash(sim.channel, "riff", prompt="bob's turn")
    assert other.response is not None
    assert not other.response.ephemeral
    assert len(gated_runner.submitted) == 3

    # Once one of alice's jobs is done she may queue again.
    gated_runner.release(gated_runner.submitted[0].job_id)
    await sim.finish(gated_runner.submitted[0].job_id)
    again = await sim.alice.slash(sim.channel, "riff", prompt="three again")
    assert again.response is not None
    assert not again.response.ephemeral


async def test_queue_cap_refuses_with_a_clear_message(sim: Sim, gated_runner: GatedRunner) -> None:
    users = [sim.guild.add_member(sim.env.create_user(f"user{i}")) for i in range(6)]
    for user in users:
        await user.slash(sim.channel, "riff", prompt="fill")
    late = await sim.alice.slash(sim.channel, "riff", prompt="too late")
    assert late.response is not None
    assert late.response.ephemeral
    assert "The queue is full (6 jobs waiting)" in late.response.content
    assert len(gated_runner.submitted) == 6

    listing = await sim.alice.slash(sim.channel, "queue")
    assert listing.response is not None
    assert listing.response.ephemeral
    assert "6 job(s) active" in listing.response.content
    assert "#1 ·" in listing.response.content


async def test_cancel_button_stops_a_queued_job_and_only_for_its_owner(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="never mind")
    job_id = gated_runner.submitted[0].job_id
    assert result.response is not None

    stranger = await sim.bob.click(result.response, custom_id=f"riff:cancel:{job_id}")
    assert stranger.response is not None
    assert stranger.response.ephemeral
    assert "Only the person who asked" in stranger.response.content
    assert job_id not in gated_runner.cancelled

    mine = await sim.alice.click(result.response, custom_id=f"riff:cancel:{job_id}")
    assert mine.response is not None
    assert mine.response.ephemeral
    assert "Cancelling" in mine.response.content
    await sim.finish(job_id)

    assert result.response is not None
    assert "was cancelled" in result.response.content
    assert result.response.attachments == []
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status.value == "cancelled"


async def test_cancel_command_defaults_to_your_newest_active_job(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    await sim.alice.slash(sim.channel, "riff", prompt="old")
    await sim.alice.slash(sim.channel, "riff", prompt="new")
    old_id, new_id = (s.job_id for s in gated_runner.submitted)

    answer = await sim.alice.slash(sim.channel, "cancel")
    assert answer.response is not None
    assert f"#{new_id}" in answer.response.content
    await sim.finish(new_id)
    assert gated_runner.cancelled == {new_id}

    explicit = await sim.alice.slash(sim.channel, "cancel", job=f"#{old_id}")
    assert explicit.response is not None
    assert f"#{old_id}" in explicit.response.content
    await sim.finish(old_id)
    job = await sim.store.get_job(old_id)
    assert job is not None
    assert job.status.value == "cancelled"

    nothing = await sim.alice.slash(sim.channel, "cancel", job="#999")
    assert nothing.response is not None
    assert "There is no job #999." in nothing.response.content


async def test_engine_refusal_is_explained_not_swallowed(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="boom")
    job_id = gated_runner.submitted[0].job_id
    from generation.types import InvalidRequest

    gated_runner.failures[job_id] = InvalidRequest("That seed image could not be read.")
    gated_runner.release(job_id)
    await sim.finish(job_id)
    assert result.response is not None
    assert "failed: That seed image could not be read." in result.response.content
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status.value == "failed"
    assert job.error


async def test_slow_checks_still_acknowledge_in_time_and_refuse_in_the_reply(
    sim: Sim, gated_runner: GatedRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.actions

    await sim.alice.slash(sim.channel, "riff", prompt="one")
    await sim.alice.slash(sim.channel, "riff", prompt="two")

    # A database that answers only after the bot has acknowledged: the checks outlast the
    # budget, so the bot must defer first and refuse by editing its reply.
    acknowledged = asyncio.Event()

    class Log(list[Any]):
        def append(self, entry: Any) -> None:
            super().append(entry)
            if entry.path.endswith("/callback"):
                acknowledged.set()

    sim.env.backend.http_requests = Log(sim.env.backend.http_requests)
    real_active_jobs = sim.store.active_jobs

    async def slow_active_jobs() -> list[JobRecord]:
        await sim.env.external_wait(acknowledged.wait(), reason="a slow database")
        return await real_active_jobs()

    monkeypatch.setattr(sim.store, "active_jobs", slow_active_jobs)
    monkeypatch.setattr(bot.actions, "ADMIT_BUDGET_S", 0.01)
    third = await sim.alice.slash(sim.channel, "riff", prompt="three")
    await sim.env.settle()

    callbacks = [e.json for e in sim.env.http_requests if e.path.endswith("/callback")]
    assert callbacks == [{"type": 5}] * 3  # acknowledged by deferring before the checks ended
    assert third.response is not None
    assert "You already have 2 jobs queued or running" in third.response.content
    assert len(gated_runner.submitted) == 2
