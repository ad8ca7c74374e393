"""Takes: one /riff, N clips in one engine batch, one post, and every take remixed on its own."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub

from bot.config import BotConfig
from bot.db_store import DbStore
from bot.store import GuildConfig, JobRecord, Preferences
from generation.engine import Engine
from generation.picture import TAKE_LABEL_PX, chain_joins
from generation.pipeline_engine import pipeline_engine
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner


@pytest.fixture
def tiny_engine(tiny_dir: Path) -> Iterator[Engine[Any, Any]]:
    from generation.models import load_model

    engine = pipeline_engine(
        lambda: load_model(str(tiny_dir), device="cpu", dtype="float32", progress=False),
        max_per_owner=2,
        max_queued=6,
        max_batch=1,  # takes are one batch whatever max_batch says
        progress_interval_s=0.0,
    )
    yield engine
    engine.close(cancel_running=True)


@pytest.fixture
def narrow(bot_config: BotConfig) -> BotConfig:
    """Short clips (1.28 s, 2 steps, txt2img) keep the tiny model fast."""
    return replace(bot_config, clip_width=128, default_steps=2, default_seed_image=None)


async def _set_and_takes(sim: Sim, user_id: int) -> tuple[JobRecord, list[JobRecord]]:
    set_job = next(j for j in await sim.store.recent_jobs(user_id, 20) if j.action == "takes")
    takes = await sim.store.takes_of(set_job.id, sim.guild.id)
    return set_job, takes


async def test_riff_with_two_takes_posts_both_in_one_message_made_in_one_batch(
    tiny_engine: Engine[Any, Any], store: DbStore, narrow: BotConfig
) -> None:
    async with open_sim(tiny_engine, store, narrow) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="tiny noise", seed=5, takes=2)
        set_job, takes = await _set_and_takes(sim, sim.alice.id)
        await sim.finish(*(t.id for t in takes))

        assert [t.request.start.seed for t in takes] == [5, 6]
        assert all(t.parent_id == set_job.id and t.action == "take" for t in takes)
        finished = [await sim.store.get_job(t.id) for t in takes]
        assert [j.status.value for j in finished if j is not None] == ["done", "done"]
        # the engine ran both takes in one batch even with max_batch=1
        assert all(j.files.timings["batch_size"] == 2.0 for j in finished if j and j.files)

        assert result.response is not None
        post = result.response
        names = [a.filename for a in post.attachments]
        assert names == [
            f"take1-{takes[0].id}.mp3",
            f"take2-{takes[1].id}.mp3",
            f"takes-{set_job.id}.png",
        ]
        picture = Image.open(io.BytesIO(await post.attachments[2].read()))
        files = finished[0].files if finished[0] else None
        assert files is not None
        assert files.picture_png is not None
        one = Image.open(files.picture_png)
        assert picture.height == 2 * (one.height + TAKE_LABEL_PX)
        assert f"take 1: `#{takes[0].id}` · seed 5" in post.content
        assert f"take 2: `#{takes[1].id}` · seed 6" in post.content
        rows: list[dict[str, Any]] = list(post.components)
        ids = {c["custom_id"] for row in rows for c in row["components"]}
        labels = [c["label"] for c in rows[1]["components"]]
        assert labels == ["Vary 2", "Extend 2", "Loop 2", "Remix 2", "Blend 2"]
        for take in takes:
            for action in ("vary", "extend", "loop", "remix", "blendpick"):
                assert f"riff:{action}:{take.id}" in ids
        assert f"riffset:reroll:{set_job.id}" in ids
        assert await sim.store.job_for_message(post.id) == await sim.store.get_job(set_job.id)

        # Vary on take 2 works on that one take.
        clicked = await sim.bob.click(post, custom_id=f"riff:vary:{takes[1].id}")
        child = (await sim.store.recent_jobs(sim.bob.id))[0]
        await sim.finish(child.id)
        assert child.parent_id == takes[1].id
        assert child.request.mode.value == "variation"
        assert child.request.seed_image == str(finished[1].files.raw_png)  # type: ignore[union-attr]
        assert clicked.response is not None
        assert f"#{child.id}" in clicked.response.content

        # /show of one take posts that take alone.
        shown = await sim.alice.slash(sim.channel, "show", job=f"#{takes[0].id}")
        assert shown.response is not None
        assert [a.filename for a in shown.response.attachments] == [
            f"riff-{takes[0].id}.mp3",
            f"riff-{takes[0].id}.png",
        ]


async def test_reroll_all_makes_a_new_set_of_as_many_takes_with_the_old_set_as_parent(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    result = await sim.alice.slash(sim.channel, "riff", prompt="harp", seed=10, takes=3)
    set_job, takes = await _set_and_takes(sim, sim.alice.id)
    await sim.finish(*(t.id for t in takes))
    assert gated_runner.batches == [tuple(t.id for t in takes)]
    assert result.response is not None

    await sim.bob.click(result.response, custom_id=f"riffset:reroll:{set_job.id}")
    new_set = next(j for j in await sim.store.recent_jobs(sim.bob.id, 20) if j.action == "reroll")
    new_takes = await sim.store.takes_of(new_set.id, sim.guild.id)
    await sim.finish(*(t.id for t in new_takes))
    assert new_set.parent_id == set_job.id
    assert len(new_takes) == 3
    seeds = [t.request.start.seed for t in new_takes]
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]
    assert seeds[0] != 10


async def test_a_set_counts_once_against_the_per_user_limit(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    # max_active_per_user is 2: a set of four takes and one more riff fit, a third is refused
    await sim.alice.slash(sim.channel, "riff", prompt="one", takes=4)
    await sim.alice.slash(sim.channel, "riff", prompt="two", takes=1)
    refused = await sim.alice.slash(sim.channel, "riff", prompt="three", takes=2)
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "already have 2 jobs" in refused.response.content
    gated_runner.release_all()
    await sim.finish(*(s.job_id for s in gated_runner.submitted))
    assert len(gated_runner.submitted) == 5


async def test_the_server_default_and_the_users_preference_choose_how_many_takes(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    await sim.store.save_guild_config(
        sim.guild.id, GuildConfig(default_takes=3), updated_by=sim.alice.id
    )
    await sim.alice.slash(sim.channel, "riff", prompt="server default")
    await sim.finish(*(s.job_id for s in gated_runner.submitted))
    assert len(gated_runner.batches[-1]) == 3

    await sim.store.save_preferences(sim.bob.id, Preferences(takes=1))
    await sim.bob.slash(sim.channel, "riff", prompt="my preference")
    await sim.finish(gated_runner.submitted[-1].job_id)
    job = (await sim.store.recent_jobs(sim.bob.id))[0]
    assert job.action is None  # one take: the plain road, no set
    assert len(gated_runner.batches) == 1


async def test_length_makes_an_extend_chain_whose_last_link_is_the_whole_track(
    tiny_engine: Engine[Any, Any], store: DbStore, narrow: BotConfig
) -> None:
    config = replace(narrow, clip_width=256)
    async with open_sim(tiny_engine, store, config) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="growing", seed=2, length=3)
        for _ in range(3):  # each link is admitted when the one before it is delivered
            jobs = await sim.store.recent_jobs(sim.alice.id)
            await sim.finish(*(j.id for j in jobs))
        jobs = sorted(await sim.store.recent_jobs(sim.alice.id), key=lambda j: int(j.id))
        assert [j.action for j in jobs] == [None, "extend", "extend"]
        assert [j.parent_id for j in jobs] == [None, jobs[0].id, jobs[1].id]
        assert all(j.status.value == "done" for j in jobs)
        widths = [Image.open(j.files.raw_png).width for j in jobs if j.files is not None]
        assert widths[0] == 256
        assert widths[0] < widths[1] < widths[2]  # each link holds the whole track so far
        durations = [j.files.duration_s for j in jobs if j.files is not None]
        assert durations[2] > 2 * durations[0] * 0.9
        assert result.response is not None
        assert [a.filename for a in result.response.attachments] == [
            f"riff-{jobs[2].id}.mp3",
            f"riff-{jobs[2].id}.png",
        ]


async def test_cancelling_a_set_cancels_its_takes_and_the_set_says_so(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="stop me", takes=2)
    set_job, takes = await _set_and_takes(sim, sim.alice.id)
    answer = await sim.alice.slash(sim.channel, "cancel", job=f"#{set_job.id}")
    await sim.finish(*(t.id for t in takes))
    assert answer.response is not None
    assert "Cancelling" in answer.response.content
    statuses = [(await sim.store.get_job(j.id)).status.value for j in (set_job, *takes)]  # type: ignore[union-attr]
    assert statuses == ["cancelled", "cancelled", "cancelled"]
    assert result.response is not None
    assert "was cancelled" in result.response.content


async def test_after_a_restart_a_sets_takes_are_delivered_one_by_one(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    await sim.alice.slash(sim.channel, "riff", prompt="interrupted pair", takes=2)
    set_job, takes = await _set_and_takes(sim, sim.alice.id)

    fresh = GatedRunner(auto=True)
    await sim.restart(fresh)
    await sim.finish(*(t.id for t in takes))

    assert sorted(s.job_id for s in fresh.submitted) == sorted(t.id for t in takes)
    for take in takes:
        delivered = sim.message_for(take.id)
        assert delivered.attachments[0].filename == f"riff-{take.id}.mp3"
    again = await sim.store.get_job(set_job.id)
    assert again is not None
    assert again.status.value == "failed"
    assert "delivered one by one" in (again.error or "")


async def test_whole_track_posts_the_last_links_mp3_and_names_the_chain(
    tiny_engine: Engine[Any, Any], store: DbStore, narrow: BotConfig
) -> None:
    async with open_sim(tiny_engine, store, narrow) as sim:
        result = await sim.alice.slash(sim.channel, "riff", prompt="growing", seed=2, length=3)
        for _ in range(3):  # each link is admitted when the one before it is delivered
            jobs = await sim.store.recent_jobs(sim.alice.id)
            await sim.finish(*(j.id for j in jobs))
        first, second, last = sorted(
            await sim.store.recent_jobs(sim.alice.id), key=lambda j: int(j.id)
        )
        post = result.response
        assert post is not None
        assert f"riffwhole:{last.id}" in str(post.components)

        whole = await sim.bob.click(post, custom_id=f"riffwhole:{last.id}")
        assert whole.response is not None
        answer = whole.response
        assert not answer.ephemeral
        assert f"#{first.id} → #{second.id} → #{last.id}" in answer.content
        assert last.files is not None
        assert f"{last.files.duration_s:.1f} s" in answer.content
        assert [a.filename for a in answer.attachments] == [
            f"track-{last.id}.mp3",
            f"track-{last.id}.png",
        ]
        assert await answer.attachments[0].read() == last.files.mp3.read_bytes()
        # the picture marks both joins: the records on disk lead back through the chain
        widths = [Image.open(j.files.raw_png).width for j in (first, second) if j.files]
        assert last.request.seed_image is not None
        assert chain_joins(last.request.seed_image) == widths

        # a plain riff's post has no Whole track button
        plain = await sim.alice.slash(sim.channel, "riff", prompt="alone", seed=3)
        alone = (await sim.store.recent_jobs(sim.alice.id))[0]
        await sim.finish(alone.id)
        assert plain.response is not None
        assert "riffwhole:" not in str(plain.response.components)
        assert f"riffraw:{alone.id}" in str(plain.response.components)
