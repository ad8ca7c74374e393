"""Result posts as embeds, the raw spectrogram from every post, and ``seed_image: #N``."""

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
from bot.fit import EMBED_TITLE, EMBED_TOTAL
from generation.engine import Engine
from generation.pipeline_engine import pipeline_engine
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner


@pytest.fixture
def tiny_engine(tiny_dir: Path) -> Iterator[Engine[Any, Any]]:
    from generation.models import load_model

    engine = pipeline_engine(
        lambda: load_model(str(tiny_dir), device="cpu", dtype="float32", progress=False),
        progress_interval_s=0.0,
    )
    yield engine
    engine.close(cancel_running=True)


async def test_a_result_is_an_embed_with_its_parameters_and_the_picture_as_image(
    tiny_engine: Engine[Any, Any], store: DbStore, bot_config: BotConfig
) -> None:
    config = replace(
        bot_config,
        clip_width=128,
        default_steps=2,
        default_seed_image=None,
        model_name="tiny",
    )
    prompt = "long " * 39 + "end"  # 198 characters, near this config's 200
    async with open_sim(tiny_engine, store, config) as sim:
        result = await sim.alice.slash(
            sim.channel, "riff", prompt=prompt, negative="x" * 200, seed=8, guidance=5.5
        )
        job_id = (await sim.store.recent_jobs(sim.alice.id))[0].id
        await sim.finish(job_id)
        assert result.response is not None
        post = result.response
        assert len(post.embeds) == 1
        embed = post.embeds[0]
        assert embed.title == prompt
        fields = {field.name: field.value for field in embed.fields}
        assert fields["Seed"] == "8"
        assert fields["Job"] == f"`#{job_id}`"
        assert fields["Length"] == "1.3 s"
        assert fields["Settings"] == "steps 2 · strength 0.75 · guidance 5.5 · pndm"
        assert fields["Model"] == "tiny"
        assert fields["Asked by"] == f"<@{sim.alice.id}>"
        assert embed.image.url == f"attachment://riff-{job_id}.png"
        assert len(embed) <= EMBED_TOTAL
        assert f"riffraw:{job_id}" in str(post.components)

        # The Spectrogram button sends the raw 512-row image, privately.
        raw = await sim.bob.click(post, custom_id=f"riffraw:{job_id}")
        assert raw.response is not None
        assert raw.response.ephemeral
        assert [a.filename for a in raw.response.attachments] == [f"spectrogram-{job_id}.png"]
        image = Image.open(io.BytesIO(await raw.response.attachments[0].read()))
        assert image.size == (128, 512)
        assert "seed_image: #" in raw.response.content

        # seed_image "#N" seeds from that job's raw image.
        await sim.bob.slash(sim.channel, "riff", prompt="again", seed_image=f"#{job_id}")
        child = (await sim.store.recent_jobs(sim.bob.id))[0]
        await sim.finish(child.id)
        job = await sim.store.get_job(job_id)
        assert job is not None
        assert job.files is not None
        assert child.request.seed_image == str(job.files.raw_png)
        assert (await sim.store.get_job(child.id)).status.value == "done"  # type: ignore[union-attr]


async def test_seed_image_of_a_missing_or_other_servers_job_is_refused_privately(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="here")
    await sim.finish(gated_runner.submitted[-1].job_id)
    other = sim.env.create_guild("Elsewhere")
    channel = other.create_text_channel("beats")
    carol = other.add_member(sim.env.create_user("carol"))
    job_id = gated_runner.submitted[-1].job_id
    for actor, where, ref in ((carol, channel, f"#{job_id}"), (sim.alice, sim.channel, "#999")):
        refused = await actor.slash(where, "riff", prompt="steal", seed_image=ref)
        assert refused.response is not None
        assert refused.response.ephemeral
        # A foreign job reads exactly like one that never existed (the across-servers rule).
        assert refused.response.content == f"⚠️ There is no job #{ref.lstrip('#')}."
    assert len(gated_runner.submitted) == 1


async def test_autocomplete_offers_your_recent_prompts_and_jobs_as_seed_images(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="sea shanty accordion")
    job_id = gated_runner.submitted[-1].job_id
    await sim.finish(job_id)
    prompts = await sim.alice.autocomplete(sim.channel, "riff", "prompt", "shanty")
    assert [c["value"] for c in prompts] == ["sea shanty accordion"]
    assert await sim.bob.autocomplete(sim.channel, "riff", "prompt", "shanty") == []
    seeds = await sim.alice.autocomplete(sim.channel, "riff", "seed_image", "sea", prompt="x")
    assert {"name": f"#{job_id} sea shanty accordion", "value": f"#{job_id}"} in [
        {"name": c["name"], "value": c["value"]} for c in seeds
    ]


def test_an_embed_over_discords_total_is_cut_in_its_description() -> None:
    from bot.posts import result_embed
    from bot.store import JobRecord
    from generation.types import Endpoint, GenerationRequest, Mode

    request = GenerationRequest(Mode.RIFF, Endpoint("p" * 5000, 1), negative_prompt="n" * 9000)
    job = JobRecord(id="5", request=request, user_id=1, guild_id=2, channel_id=3)
    embed = result_embed(job, model_name="m" * 3000, picture=None)
    assert embed.title is not None
    assert len(embed.title) == EMBED_TITLE
    assert len(embed) <= EMBED_TOTAL


async def test_remix_takes_a_job_as_its_source_and_refuses_neither(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="source clip")
    source = gated_runner.submitted[-1]
    await sim.finish(source.job_id)
    await sim.bob.slash(sim.channel, "remix", prompt="as a choir", seed_image=f"#{source.job_id}")
    remix = gated_runner.submitted[-1]
    await sim.finish(remix.job_id)
    job = await sim.store.get_job(source.job_id)
    assert job is not None
    assert job.files is not None
    assert remix.request.mode.value == "remix"
    assert remix.request.seed_image == str(job.files.raw_png)
    neither = await sim.bob.slash(sim.channel, "remix", prompt="from nothing")
    assert neither.response is not None
    assert neither.response.ephemeral
    assert "Attach the audio" in neither.response.content
