"""``/preferences`` and the admins' takes default, applied where /riff leaves a value out."""

from __future__ import annotations

import discord

from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def test_preferences_are_saved_shown_applied_and_reset(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    saved = await sim.alice.slash(
        sim.channel, "preferences", takes=3, steps=4, guidance=3.5, scheduler="ddim", private=True
    )
    assert saved.response is not None
    assert saved.response.ephemeral
    assert "takes: 3" in saved.response.content
    shown = await sim.alice.slash(sim.channel, "preferences")
    assert shown.response is not None
    assert "scheduler: ddim" in shown.response.content
    assert "private" in shown.response.content

    result = await sim.alice.slash(sim.channel, "riff", prompt="my way")
    await sim.finish(*(s.job_id for s in gated_runner.submitted))
    requests = [s.request for s in gated_runner.submitted]
    assert len(requests) == 3
    assert {(r.steps, r.start.guidance, r.scheduler) for r in requests} == {(4, 3.5, "ddim")}
    assert result.response is not None
    assert result.response.ephemeral  # private results

    # A value given in the command wins over the preference; bob's defaults are untouched.
    await sim.alice.slash(sim.channel, "riff", prompt="one", takes=1, steps=2)
    await sim.finish(gated_runner.submitted[-1].job_id)
    assert gated_runner.submitted[-1].request.steps == 2
    bobs = await sim.bob.slash(sim.channel, "riff", prompt="bob's")
    await sim.finish(gated_runner.submitted[-1].job_id)
    assert gated_runner.submitted[-1].request.steps == sim.config.default_steps
    assert bobs.response is not None
    assert not bobs.response.ephemeral

    reset = await sim.alice.slash(sim.channel, "preferences", reset=True)
    assert reset.response is not None
    assert "no preferences set" in reset.response.content


async def test_an_admin_sets_the_servers_takes_default(sim: Sim, gated_runner: GatedRunner) -> None:
    gated_runner.auto = True
    admin_role = sim.guild.create_role("admin", permissions=discord.Permissions(manage_guild=True))
    admin = sim.guild.add_member(sim.env.create_user("admin"), roles=[admin_role])
    saved = await admin.slash(sim.channel, "settings limits", takes=2)
    assert saved.response is not None
    assert "takes per /riff: 2" in saved.response.content
    await sim.alice.slash(sim.channel, "riff", prompt="by default")
    await sim.finish(*(s.job_id for s in gated_runner.submitted))
    assert gated_runner.batches == [tuple(s.job_id for s in gated_runner.submitted)]
    assert len(gated_runner.submitted) == 2
