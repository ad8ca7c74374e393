"""Remix by reaction and by button, on result posts found by message id in the database."""

from __future__ import annotations

import asyncio

import discord
from simcord import MemberActor

from bot.db_store import DbStore
from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def _delivered(
    sim: Sim, gated_runner: GatedRunner, prompt: str, member: MemberActor | None = None
) -> discord.Message:
    actor = member or sim.alice
    await actor.slash(sim.channel, "riff", prompt=prompt)
    job_id = gated_runner.submitted[-1].job_id
    gated_runner.release(job_id)
    await sim.finish(job_id)
    return sim.message_for(job_id)


async def test_reaction_on_a_result_post_replies_with_a_remix_and_records_lineage(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "jazz trio")
    parent_id = gated_runner.submitted[0].job_id

    await sim.bob.react(post, "🔁")
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)

    assert child.owner == f"user:{sim.bob.id}"
    assert child.request.start.prompt == "jazz trio"
    assert child.request.start.seed != gated_runner.submitted[0].request.start.seed
    reply = sim.message_for(child.job_id)
    assert reply.reference is not None
    assert reply.reference.message_id == post.id
    assert [a.filename for a in reply.attachments] == [
        f"riff-{child.job_id}.mp3",
        f"riff-{child.job_id}.png",
    ]
    job = await sim.store.get_job(child.job_id)
    assert job is not None
    assert job.parent_id == parent_id
    assert job.action == "reroll"
    # The reply is itself a result post: reacting on it works too.
    assert await sim.store.job_for_message(reply.id) == job

    await sim.alice.react(reply, "⏩")
    grandchild = gated_runner.submitted[-1]
    await sim.finish(grandchild.job_id)
    assert grandchild.request.mode.value == "extend"
    assert grandchild.request.seed_image is not None
    assert grandchild.request.seed_image.endswith(".raw.png")


async def test_reactions_by_bots_on_foreign_messages_and_unknown_emoji_are_ignored(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "ambient pads")
    robot = sim.guild.add_member(sim.env.create_user("otherbot", bot=True))
    await robot.react(post, "🔁")
    await sim.alice.react(post, "👍")
    foreign = await sim.alice.send(sim.channel, "my own message")
    await sim.bob.react(foreign, "🔁")
    assert len(gated_runner.submitted) == 1

    # The same person repeating the same emoji does not start a second job.
    await sim.bob.react(post, "🎲")
    await sim.bob.unreact(post, "🎲")
    await sim.bob.react(post, "🎲")
    await sim.finish(gated_runner.submitted[-1].job_id)
    assert [s.request.mode.value for s in gated_runner.submitted] == ["riff", "variation"]


async def test_blend_reaction_pairs_the_post_with_the_reacting_users_previous_job(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    alices = await _delivered(sim, gated_runner, "harp glissando")
    await _delivered(sim, gated_runner, "distorted bass", member=sim.bob)
    await sim.bob.react(alices, "🔀")
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)
    assert child.request.mode.value == "blend"
    assert child.request.start.prompt == "harp glissando"
    assert child.request.end is not None
    assert child.request.end.prompt == "distorted bass"


async def test_result_buttons_reroll_vary_loop_info_and_delete(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "bossa nova guitar")
    parent_id = gated_runner.submitted[0].job_id

    for action, mode in (("reroll", "riff"), ("vary", "variation"), ("loop", "loop")):
        clicked = await sim.bob.click(post, custom_id=f"riff:{action}:{parent_id}")
        child = gated_runner.submitted[-1]
        await sim.finish(child.job_id)
        assert child.request.mode.value == mode
        assert clicked.response is not None
        assert f"#{child.job_id}" in clicked.response.content
        assert len(clicked.response.attachments) == 2
        job = await sim.store.get_job(child.job_id)
        assert job is not None
        assert job.parent_id == parent_id
        assert job.action == action

    info = await sim.bob.click(post, custom_id=f"riff:info:{parent_id}")
    assert info.response is not None
    assert info.response.ephemeral
    assert "bossa nova guitar" in info.response.content
    assert "Seed" in info.response.content

    denied = await sim.bob.click(post, custom_id=f"riff:delete:{parent_id}")
    assert denied.response is not None
    assert "Only the person who asked" in denied.response.content
    deleted = await sim.alice.click(post, custom_id=f"riff:delete:{parent_id}")
    assert deleted.response is not None
    assert deleted.response.ephemeral
    assert all(m.id != post.id for m in sim.channel.history())
    assert await sim.store.job_for_message(post.id) is None


async def test_remix_button_opens_a_prefilled_modal_and_submitting_starts_the_remix(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "marimba loop")
    parent_id = gated_runner.submitted[0].job_id

    shown = await sim.alice.click(post, custom_id=f"riff:remix:{parent_id}")
    assert shown.modal is not None
    assert "marimba loop" in str(shown.modal)
    done = await sim.alice.submit_modal(
        shown, {"prompt": "marimba loop, underwater", "strength": "0.4"}
    )
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)
    assert child.request.start.prompt == "marimba loop, underwater"
    assert child.request.start.strength == 0.4
    assert done.response is not None
    assert f"#{child.job_id}" in done.response.content

    shown = await sim.alice.click(post, custom_id=f"riff:remix:{parent_id}")
    bad = await sim.alice.submit_modal(shown, {"prompt": "x", "strength": "loud"})
    assert bad.response is not None
    assert bad.response.ephemeral
    assert "not a number" in bad.response.content


async def test_blend_with_button_offers_your_jobs_and_the_pick_starts_a_blend(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    first = await _delivered(sim, gated_runner, "choir")
    await _delivered(sim, gated_runner, "808 drums")
    first_id, second_id = (s.job_id for s in gated_runner.submitted)

    offered = await sim.alice.click(first, custom_id=f"riff:blendpick:{first_id}")
    assert offered.response is not None
    assert offered.response.ephemeral
    picked = await sim.alice.select(
        offered.response, [second_id], custom_id=f"riffsel:blend:{first_id}"
    )
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)
    assert child.request.mode.value == "blend"
    assert child.request.end is not None
    assert child.request.end.prompt == "808 drums"
    assert picked.response is not None
    assert f"#{child.job_id}" in picked.response.content
    job = await sim.store.get_job(child.job_id)
    assert job is not None
    assert job.parent_id == first_id
    assert job.partner_id == second_id


async def test_reactions_are_recorded_as_triggers_with_the_job_they_made(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    from db import triggers_for_message

    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "steel drums")
    await sim.bob.react(post, "🎲")
    child = gated_runner.submitted[-1]
    await sim.finish(child.job_id)
    store = sim.store
    assert isinstance(store, DbStore)
    triggers = await asyncio.to_thread(store.database.call, triggers_for_message, post.id)
    assert [(t.source.value, t.key, t.user_id) for t in triggers] == [
        ("reaction", "🎲", sim.bob.id)
    ]
    assert str(triggers[0].job_id) == child.job_id
    assert str(triggers[0].source_job_id) == gated_runner.submitted[0].job_id


async def test_blend_reaction_without_a_previous_job_explains_itself(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.auto = True
    post = await _delivered(sim, gated_runner, "lonely flute")
    await sim.bob.react(post, "🔀")
    assert len(gated_runner.submitted) == 1
    reply = sim.channel.history()
    assert any("you have none yet" in m.content for m in reply)


async def test_a_refused_reaction_works_when_repeated_after_the_reason_is_gone(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    post = await _delivered(sim, gated_runner, "sitar drone")
    await sim.bob.slash(sim.channel, "riff", prompt="bob one")
    await sim.bob.slash(sim.channel, "riff", prompt="bob two")
    busy = [s.job_id for s in gated_runner.submitted[1:]]

    await sim.bob.react(post, "🔁")  # bob is at his limit of 2: refused in the channel
    assert len(gated_runner.submitted) == 3
    assert any("You already have 2 jobs" in m.content for m in sim.channel.history())

    gated_runner.release_all()
    await sim.finish(*busy)
    await sim.bob.unreact(post, "🔁")
    await sim.bob.react(post, "🔁")  # the refusal said "try again": now it must work
    assert len(gated_runner.submitted) == 4
    child = gated_runner.submitted[-1]
    assert child.owner == f"user:{sim.bob.id}"
    await sim.finish(child.job_id)


async def test_toggling_a_refused_reaction_posts_one_refusal_per_reason_in_a_while(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    post = await _delivered(sim, gated_runner, "kalimba")
    await sim.bob.slash(sim.channel, "riff", prompt="bob one")
    await sim.bob.slash(sim.channel, "riff", prompt="bob two")
    now = [1000.0]
    sim.bot.remixer.clock = lambda: now[0]

    def refusals(text: str) -> int:
        return sum(text in m.content for m in sim.channel.history())

    for _ in range(6):
        await sim.bob.react(post, "🔁")
        await sim.bob.unreact(post, "🔁")
        await sim.bob.react(post, "🔀")  # a second reason is answered once too
        await sim.bob.unreact(post, "🔀")
    assert refusals("You already have 2 jobs") == 1
    assert refusals("you have none yet") + refusals("You already have 2 jobs") == 2
    assert len(gated_runner.submitted) == 3

    now[0] += sim.bot.remixer.refusal_window_s  # a while later the reason may be said again
    await sim.bob.react(post, "🔁")
    assert refusals("You already have 2 jobs") == 2
