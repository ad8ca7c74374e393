"""Message context menus: "Remix this audio" on any audio message, "Riff like this" on posts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def test_remix_this_audio_asks_for_a_prompt_and_restyles_the_attachment(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    clip = b"ID3" + b"\x00" * 2000
    posted = await sim.bob.send(sim.channel, "my loop", attachments=[("loop.mp3", clip)])
    shown = await sim.alice.context_menu(sim.channel, "Remix this audio", posted)
    assert shown.modal is not None
    done = await sim.alice.submit_modal(shown, {"prompt": "as a string quartet", "strength": "0.3"})
    job = gated_runner.submitted[-1]
    await sim.finish(job.job_id)
    assert job.request.mode.value == "remix"
    assert job.request.start.prompt == "as a string quartet"
    assert job.request.start.strength == 0.3
    assert job.request.seed_image is not None
    saved = await asyncio.to_thread(Path(job.request.seed_image).read_bytes)
    assert saved == clip
    assert done.response is not None
    assert f"#{job.job_id}" in done.response.content

    text_only = await sim.bob.send(sim.channel, "no sound here")
    refused = await sim.alice.context_menu(sim.channel, "Remix this audio", text_only)
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "no audio attachment" in refused.response.content


async def test_riff_like_this_makes_a_variation_of_a_post_and_refuses_other_messages(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    result = await sim.alice.slash(sim.channel, "riff", prompt="steel drums", seed=4)
    parent = gated_runner.submitted[-1]
    await sim.finish(parent.job_id)
    assert result.response is not None

    liked = await sim.bob.context_menu(sim.channel, "Riff like this", result.response)
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)
    assert child.job_id != parent.job_id
    assert child.request.mode.value == "variation"
    assert child.request.start.prompt == "steel drums"
    job = await sim.store.get_job(child.job_id)
    assert job is not None
    assert job.parent_id == parent.job_id
    assert liked.response is not None
    assert f"#{child.job_id}" in liked.response.content

    mine = await sim.alice.send(sim.channel, "just chatting")
    refused = await sim.bob.context_menu(sim.channel, "Riff like this", mine)
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "not a Riffbot result post" in refused.response.content
