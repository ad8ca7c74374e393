"""Restarts, expired interaction tokens and the upload limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.config import BotConfig
from bot.db_store import DbStore
from tests.e2e.harness import Sim, open_sim, set_upload_limit
from tests.fakes import GatedRunner


async def test_restart_with_a_job_in_flight_finishes_and_delivers_it(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="interrupted waltz", seed=7)
    job_id = gated_runner.submitted[0].job_id
    assert result.response is not None
    assert "Queued" in result.response.content

    # The process dies with the job queued in the engine; a new process starts.
    fresh = GatedRunner(auto=True)
    await sim.restart(fresh)
    await sim.finish(job_id)

    assert [s.job_id for s in fresh.submitted] == [job_id]
    assert fresh.submitted[0].request.start.seed == 7
    delivered = sim.message_for(job_id)
    # The status message of before the restart became the result: nothing posted twice.
    assert delivered.id == result.response.id
    assert [m.id for m in sim.channel.history() if f"`#{job_id}`" in m.content] == [delivered.id]
    assert [a.filename for a in delivered.attachments] == [
        f"riff-{job_id}.mp3",
        f"riff-{job_id}.png",
    ]
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status.value == "done"
    assert await sim.store.job_for_message(delivered.id) == job


async def test_a_radio_clip_left_running_by_a_crash_is_not_posted_after_a_restart(
    sim: Sim,
) -> None:
    from generation.types import Endpoint, GenerationRequest, Mode

    # A radio keeps clips running ahead of playback; they are jobs too. After a crash the
    # radio resumes from its saved session, so these must not come back as channel posts.
    clip_request = GenerationRequest(
        Mode.RADIO, Endpoint("lofi", 1), end=Endpoint("jazz", 2), alpha=0.25
    )
    clip = await sim.store.create_job(
        clip_request,
        user_id=sim.alice.id,
        guild_id=sim.guild.id,
        channel_id=sim.channel.id,
        action="radio",
    )
    await sim.store.mark_running(clip.id)
    posted_before = len(sim.bot_messages())

    fresh = GatedRunner(auto=True)
    await sim.restart(fresh)
    await sim.env.settle()

    assert fresh.submitted == []
    job = await sim.store.get_job(clip.id)
    assert job is not None
    assert job.status.value == "cancelled"
    assert len(sim.bot_messages()) == posted_before


async def test_a_failed_acknowledgement_still_runs_the_job_and_posts_in_the_channel(
    sim: Sim, gated_runner: GatedRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import discord

    async def too_late(self: discord.InteractionResponse[Any], **kwargs: Any) -> None:
        response: Any = SimpleNamespace(status=404, reason="Not Found")  # what HTTPException reads
        raise discord.NotFound(response, {"code": 10062, "message": "Unknown interaction"})

    # The job row is written before the acknowledgement; it must not be left orphaned.
    monkeypatch.setattr(discord.InteractionResponse, "defer", too_late)
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="late bloomer")
    job_id = gated_runner.submitted[0].job_id
    await sim.finish(job_id)

    delivered = sim.message_for(job_id)
    assert [a.filename for a in delivered.attachments] == [
        f"riff-{job_id}.mp3",
        f"riff-{job_id}.png",
    ]
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status.value == "done"


async def test_buttons_on_old_posts_work_after_a_restart(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="before restart")
    parent_id = gated_runner.submitted[0].job_id
    await sim.finish(parent_id)
    post = sim.message_for(parent_id)

    fresh = GatedRunner(auto=True)
    await sim.restart(fresh)
    await sim.bob.click(post, custom_id=f"riff:reroll:{parent_id}")
    await sim.bob.react(post, "🔂")
    assert [s.request.mode.value for s in fresh.submitted] == ["riff", "loop"]
    await sim.finish(*(s.job_id for s in fresh.submitted))


async def test_expired_interaction_token_falls_back_to_the_channel(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="slow jam")
    job_id = gated_runner.submitted[0].job_id
    await sim.env.advance_time(16 * 60)  # the 15-minute token is dead
    gated_runner.release(job_id)
    await sim.finish(job_id)

    delivered = sim.message_for(job_id)
    assert result.response is not None
    assert delivered.id != result.response.id
    assert "Queued" in result.response.content  # the dead response could not be edited
    assert len(delivered.attachments) == 2
    assert await sim.store.job_for_message(delivered.id) is not None


@pytest.mark.parametrize(
    ("limit", "expected", "note"),
    [
        (3000, ["mp3", "png"], None),
        (2500, ["mp3"], "spectrogram picture"),
        (1000, ["png"], "MP3"),
    ],
)
async def test_upload_limit_decides_what_is_attached(
    sim: Sim,
    gated_runner: GatedRunner,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    expected: list[str],
    note: str | None,
) -> None:
    set_upload_limit(monkeypatch, limit)  # files: MP3 2048 bytes, picture 512 bytes
    result = await sim.alice.slash(sim.channel, "riff", prompt="big file")
    job_id = gated_runner.submitted[0].job_id
    gated_runner.release(job_id)
    await sim.finish(job_id)

    assert result.response is not None
    assert [a.filename.rsplit(".", 1)[1] for a in result.response.attachments] == expected
    if note is None:
        assert "upload limit" not in result.response.content
    else:
        assert f"The {note}" in result.response.content
        assert "upload limit" in result.response.content


async def test_an_mp3_over_the_limit_is_reencoded_when_a_shrinker_is_set(
    store: DbStore, bot_config: BotConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def shrink(mp3: Path, limit: int, duration_s: float) -> Path:
        smaller = mp3.with_name("small.mp3")
        await asyncio.to_thread(smaller.write_bytes, b"ID3" + bytes(limit // 2))
        return smaller

    runner = GatedRunner(auto=True)
    set_upload_limit(monkeypatch, 1500)  # MP3 2048 bytes: too big; picture 512 bytes
    async with open_sim(runner, store, bot_config, shrink=shrink) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="squeeze me")
        await sim.finish(runner.submitted[0].job_id)
        assert result.response is not None
        sizes = {a.filename.rsplit(".", 1)[1]: a.size for a in result.response.attachments}
        assert sizes == {"mp3": 3 + 750, "png": 512}
        assert "re-encoded at a lower bitrate" in result.response.content


async def test_restart_posts_anew_when_the_old_status_message_was_deleted(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    import discord

    result = await sim.alice.slash(sim.channel, "riff", prompt="vanished status")
    job_id = gated_runner.submitted[0].job_id
    assert result.response is not None
    old_id = result.response.id
    mods = sim.guild.create_role("mods", permissions=discord.Permissions(manage_messages=True))
    mod = sim.guild.add_member(sim.env.create_user("mod"), roles=[mods])
    await mod.delete(result.response)

    await sim.restart(GatedRunner(auto=True))
    await sim.finish(job_id)
    delivered = sim.message_for(job_id)
    assert delivered.id != old_id
    assert [a.filename for a in delivered.attachments] == [
        f"riff-{job_id}.mp3",
        f"riff-{job_id}.png",
    ]
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status_message == (sim.channel.id, delivered.id)
