"""What a raw interaction payload can carry past Discord's own option checks, and prompts
that are invisible or reorder the text around them."""

from __future__ import annotations

from typing import Any

import pytest
import simcord
from simcord import MemberActor

from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def raw_slash(
    actor: MemberActor, channel: simcord.ChannelHandle, name: str, **options: Any
) -> simcord.InteractionResult:
    """``/name`` with option values sent as given: no client-side bounds, as a raw payload."""
    root = simcord.actors._resolve_visible_command(actor, channel.id, name, 1)
    types = {option["name"]: option["type"] for option in root.get("options", [])}
    data = {
        "id": root["id"],
        "name": root["name"],
        "type": 1,
        "options": [{"name": k, "type": types[k], "value": v} for k, v in options.items()],
    }
    result: simcord.InteractionResult = await simcord.actors._dispatch_actor_interaction(
        actor, 2, channel, data
    )
    return result


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"seed": 2**64}, "seed must be between 0 and 4294967295"),
        ({"seed": -1}, "seed must be between 0 and 4294967295"),
        ({"steps": 9999}, "Steps must be between 1 and 10"),
        ({"steps": 0}, "Steps must be between 1 and 10"),
        ({"strength": 7.5}, "strength must be in (0, 1]"),
    ],
)
async def test_values_out_of_range_are_refused_clearly_before_any_row(
    sim: Sim, gated_runner: GatedRunner, options: dict[str, Any], words: str
) -> None:
    result = await raw_slash(sim.alice, sim.channel, "riff", prompt="lofi", **options)
    assert result.response is not None
    assert result.response.ephemeral
    assert words in result.response.content
    assert "went wrong" not in result.response.content
    assert gated_runner.submitted == []
    assert await sim.store.recent_jobs(sim.alice.id) == []


@pytest.mark.parametrize("prompt", ["\u200b\u200b\u200d", "\u202e\u2066\u200f", "\x00\x01 \x7f"])
async def test_a_prompt_with_nothing_visible_is_empty(
    sim: Sim, gated_runner: GatedRunner, prompt: str
) -> None:
    result = await raw_slash(sim.alice, sim.channel, "riff", prompt=prompt)
    assert result.response is not None
    assert result.response.ephemeral
    assert "empty" in result.response.content
    assert gated_runner.submitted == []


async def test_control_and_bidi_characters_never_reach_posted_text(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    await sim.alice.slash(sim.channel, "riff", prompt="lofi\x00 beat \u202eevil\u202c 👩\u200d💻")
    submitted = gated_runner.submitted[0].request.start.prompt
    assert submitted == "lofi beat evil 👩\u200d💻"  # ZWJ inside an emoji sequence stays
    gated_runner.release_all()
    await sim.finish(gated_runner.submitted[0].job_id)
    for message in sim.bot_messages():
        assert not any(ch in message.content for ch in "\x00\u202e\u202c")


async def test_settings_values_out_of_range_are_refused_not_crashed(sim: Sim) -> None:
    import discord

    admin_role = sim.guild.create_role("admin", permissions=discord.Permissions(manage_guild=True))
    admin = sim.guild.add_member(sim.env.create_user("admin"), roles=[admin_role])
    root = simcord.actors._resolve_visible_command(admin, sim.channel.id, "settings", 1)
    limits = next(o for o in root["options"] if o["name"] == "limits")
    for value in (10**20, 0):
        data = {
            "id": root["id"],
            "name": "settings",
            "type": 1,
            "options": [
                {
                    "name": "limits",
                    "type": limits["type"],
                    "options": [{"name": "per_user", "type": 4, "value": value}],
                }
            ],
        }
        result = await simcord.actors._dispatch_actor_interaction(admin, 2, sim.channel, data)
        assert result.response is not None
        assert result.response.ephemeral
        assert f"Jobs per user must be between 1 and 2, got {value}." in result.response.content
    saved = await sim.store.guild_config(sim.guild.id)
    assert saved.max_active_per_user is None
