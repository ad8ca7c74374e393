"""The across-servers rule, tried as a hostile user would: two servers, a moderator in each.

Server A (the ``sim`` guild) has alice and its moderator; server B has mallory, a moderator
there, and alice is a member of both. Every way of naming a job from B must treat A's jobs
exactly like ids that do not exist, so job ids (sequential) reveal nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import discord
import pytest
import simcord
from simcord import MemberActor

from tests.e2e.harness import Sim
from tests.fakes import GatedRunner

MODERATOR = discord.Permissions(manage_messages=True, manage_guild=True)


@dataclass
class Two:
    sim: Sim
    runner: GatedRunner
    mod_a: MemberActor
    guild_b: simcord.GuildHandle
    channel_b: simcord.ChannelHandle
    mallory: MemberActor  # a moderator in B
    alice_b: MemberActor  # alice, as a member of B

    async def job_in_a(self, prompt: str = "secret melody of server A") -> str:
        await self.sim.alice.slash(self.sim.channel, "riff", prompt=prompt)
        return self.runner.submitted[-1].job_id

    async def done_in_a(self, prompt: str = "secret melody of server A") -> str:
        job_id = await self.job_in_a(prompt)
        self.runner.release(job_id)
        await self.sim.finish(job_id)
        return job_id

    def b_texts(self) -> str:
        """Everything the bot posted publicly in server B's channel."""
        return "\n".join(m.content for m in self.channel_b.history())


@pytest.fixture
def two(sim: Sim, gated_runner: GatedRunner) -> Two:
    mod_role_a = sim.guild.create_role("mods", permissions=MODERATOR)
    mod_a = sim.guild.add_member(sim.env.create_user("mod_a"), roles=[mod_role_a])
    guild_b = sim.env.create_guild("Server B")
    channel_b = guild_b.create_text_channel("general")
    mod_role_b = guild_b.create_role("mods", permissions=MODERATOR)
    mallory = guild_b.add_member(sim.env.create_user("mallory"), roles=[mod_role_b])
    alice_b = guild_b.add_member(sim.alice.user)
    return Two(sim, gated_runner, mod_a, guild_b, channel_b, mallory, alice_b)


def _text(result: simcord.InteractionResult) -> str:
    assert result.response is not None
    assert result.response.ephemeral
    content: str = result.response.content
    return content


async def test_a_moderator_of_b_cannot_cancel_a_running_job_of_a(two: Two) -> None:
    job_id = await two.job_in_a()
    refused = await two.mallory.slash(two.channel_b, "cancel", job=f"#{job_id}")
    unknown = await two.mallory.slash(two.channel_b, "cancel", job="#987654")
    assert _text(refused) == f"⚠️ There is no job #{job_id}."
    assert _text(unknown) == "⚠️ There is no job #987654."
    assert job_id not in two.runner.cancelled
    # The moderator of A may, from A (the rule is the job's server, not the channel's).
    allowed = await two.mod_a.slash(two.sim.channel, "cancel", job=f"#{job_id}")
    assert "Cancelling" in _text(allowed)
    assert job_id in two.runner.cancelled


async def test_show_and_blend_from_b_do_not_reveal_a_prompt_or_files(two: Two) -> None:
    job_id = await two.done_in_a()
    before = len(two.runner.submitted)
    shown = await two.mallory.slash(two.channel_b, "show", job=f"#{job_id}")
    assert _text(shown) == f"⚠️ There is no job #{job_id}."
    blended = await two.mallory.slash(two.channel_b, "blend", a=f"#{job_id}", b="kazoo")
    assert _text(blended) == f"⚠️ There is no job #{job_id}."
    seeded = await two.mallory.slash(two.channel_b, "riff", prompt="x", seed_image=f"#{job_id}")
    assert _text(seeded) == f"⚠️ There is no job #{job_id}."
    assert len(two.runner.submitted) == before
    assert "secret melody" not in two.b_texts()
    # From its own server the same id works.
    again = await two.sim.alice.slash(two.sim.channel, "show", job=f"#{job_id}")
    assert again.response is not None
    assert "secret melody" in again.response.content


async def test_seed_image_job_reference_works_inside_one_server(two: Two) -> None:
    job_id = await two.done_in_a()
    await two.sim.alice.slash(two.sim.channel, "riff", prompt="y", seed_image=f"#{job_id}")
    request = two.runner.submitted[-1].request
    assert request.seed_image is not None
    assert request.seed_image.endswith(f"{job_id}.raw.png")


async def test_history_queue_and_autocomplete_show_only_this_servers_jobs(two: Two) -> None:
    done = await two.done_in_a("first secret of A")
    await two.job_in_a("second secret of A")
    history = await two.mallory.slash(two.channel_b, "history", user=two.alice_b.user)
    assert "secret" not in _text(history)
    own = await two.alice_b.slash(two.channel_b, "history")
    assert "secret" not in _text(own)
    assert "No jobs yet" in _text(own)
    queue = await two.mallory.slash(two.channel_b, "queue")
    assert "secret" not in _text(queue)
    choices = await two.alice_b.autocomplete(two.channel_b, "show", "job", "")
    assert choices == []
    # In A, alice sees her jobs.
    home = await two.sim.alice.slash(two.sim.channel, "history")
    assert f"#{done}" in _text(home)


async def _forge(actor: MemberActor, message: Any, custom_id: str, **data: Any) -> Any:
    """A component interaction with a custom id the client never showed (a raw payload).

    discord.py only dispatches a component the interaction's message carries, so the forged
    payload carries a forged copy of the message too, as a hostile client could send it.
    """
    stored = copy.copy(simcord.actors._visible_message(actor, message))
    payload = {"custom_id": custom_id, "component_type": 2, **data}
    item: dict[str, Any] = {"type": payload["component_type"], "custom_id": custom_id}
    if item["type"] == 2:
        item |= {"style": 2, "label": "forged"}
    else:
        item |= {"options": [{"label": v, "value": v} for v in data["values"]]}
    stored.components = [{"type": 1, "components": [item]}]
    return await simcord.actors._component_interaction(actor, stored, payload)


async def test_forged_buttons_selects_and_modals_resolve_only_this_server(two: Two) -> None:
    secret = await two.job_in_a()
    own = await two.mallory.slash(two.channel_b, "riff", prompt="mallory's own")
    own_id = two.runner.submitted[-1].job_id
    assert own.response is not None
    post = own.response
    for action in ("cancel", "info", "reroll", "remix", "delete", "blendpick"):
        result = await _forge(two.mallory, post, f"riff:{action}:{secret}")
        assert _text(result) == f"⚠️ There is no job #{secret}.", action
    whole = await _forge(two.mallory, post, f"riffwhole:{secret}")
    assert _text(whole) == f"⚠️ There is no job #{secret}."
    picked = await _forge(
        two.mallory, post, f"riffsel:blend:{own_id}", component_type=3, values=[secret]
    )
    assert _text(picked) == f"⚠️ There is no job #{secret}."
    assert secret not in two.runner.cancelled
    assert [s.job_id for s in two.runner.submitted] == [secret, own_id]
    assert "secret melody" not in two.b_texts()


async def test_blend_reaction_never_pairs_with_a_job_from_another_server(two: Two) -> None:
    await two.done_in_a()  # alice's previous job, in A
    await two.mallory.slash(two.channel_b, "riff", prompt="mallory's beat")
    theirs = two.runner.submitted[-1].job_id
    two.runner.release(theirs)
    await two.sim.finish(theirs)
    post = next(m for m in two.channel_b.history() if f"`#{theirs}`" in m.content)
    before = len(two.runner.submitted)
    await two.alice_b.react(post, "🔀")
    assert len(two.runner.submitted) == before
    assert "none yet" in two.b_texts()
    assert "secret melody" not in two.b_texts()


async def test_a_dm_job_belongs_to_its_user_only(two: Two) -> None:
    alice, bob = two.sim.alice.user, two.sim.bob.user
    await alice.slash("riff", prompt="my private sketch")
    private = two.runner.submitted[-1].job_id
    two.runner.release(private)
    await two.sim.finish(private)

    for result in (
        await bob.slash("show", job=f"#{private}"),  # another user's DMs
        await two.sim.alice.slash(two.sim.channel, "show", job=f"#{private}"),  # a server
        await two.mallory.slash(two.channel_b, "cancel", job=f"#{private}"),
    ):
        assert _text(result) == f"⚠️ There is no job #{private}."
    history = await bob.slash("history", user=alice)
    assert "private sketch" not in _text(history)
    mine = await alice.slash("show", job=f"#{private}")
    assert mine.response is not None
    assert "private sketch" in mine.response.content
