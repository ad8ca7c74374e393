"""/riff end to end: acknowledgement, one status message kept current, delivery with files."""

from __future__ import annotations

import discord

from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def test_riff_defers_shows_queue_then_delivers_mp3_and_png(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    result = await sim.alice.slash(sim.channel, "riff", prompt="lofi piano", seed=42)

    assert result.acknowledged
    callbacks = [e.json for e in sim.env.http_requests if e.path.endswith("/callback")]
    assert callbacks == [{"type": 5}]  # deferred with 'thinking', before any other work
    assert result.response is not None
    assert "Queued" in result.response.content
    assert "#1 in the queue" in result.response.content
    job_id = gated_runner.submitted[0].job_id
    assert gated_runner.submitted[0].owner == f"user:{sim.alice.id}"
    assert gated_runner.submitted[0].request.start.seed == 42

    gated_runner.release(job_id)
    await sim.finish(job_id)

    final = result.response
    assert final is not None
    assert "lofi piano" in final.content
    assert "seed 42" in final.content
    assert f"#{job_id}" in final.content
    assert [a.filename for a in final.attachments] == [f"riff-{job_id}.mp3", f"riff-{job_id}.png"]
    job = await sim.store.get_job(job_id)
    assert job is not None
    assert job.status.value == "done"
    assert await sim.store.job_for_message(final.id) == job


def _edits(sim: Sim) -> list[dict[str, object]]:
    return [
        e.json
        for e in sim.env.http_requests
        if e.method == "PATCH"
        and e.path.endswith("/messages/@original")
        and isinstance(e.json, dict)
    ]


async def test_status_message_follows_queue_progress_preview_and_encoding(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    gated_runner.stepwise = True
    first = await sim.alice.slash(sim.channel, "riff", prompt="first")
    second = await sim.bob.slash(sim.channel, "riff", prompt="second")
    first_id, _second_id = (s.job_id for s in gated_runner.submitted)
    assert second.response is not None
    assert "#2 in the queue" in second.response.content

    gated_runner.release(first_id)
    seen = []
    for _ in range(3):  # step 1, step 2, encoding
        gated_runner.advance(first_id)
        await sim.env.settle()
        assert first.response is not None
        seen.append(first.response.content)
    assert "Generating" in seen[0]
    assert "1/2" in seen[0]
    assert "2/2" in seen[1]
    assert "Turning the spectrogram into sound" in seen[2]
    assert first.response is not None
    assert any(a.filename.startswith("preview-") for a in first.response.attachments)
    # The status message carries a Cancel button while it waits.
    assert f"riff:cancel:{first_id}" in str(first.response.components)

    gated_runner.advance(first_id)
    await sim.finish(first_id)
    # The first job left the queue: the second job's message now says it is next.
    assert second.response is not None
    assert "#1 in the queue" in second.response.content
    assert first.response is not None
    assert "🎵" in first.response.content
    assert [a.filename for a in first.response.attachments] == [
        f"riff-{first_id}.mp3",
        f"riff-{first_id}.png",
    ]
    assert f"riff:reroll:{first_id}" in str(first.response.components)


async def test_nothing_posted_pings_anyone(sim: Sim, gated_runner: GatedRunner) -> None:
    role = sim.guild.create_role("listeners", mentionable=True)
    prompt = f"@everyone @here <@{sim.bob.id}> <@&{role.id}> drums"
    result = await sim.alice.slash(sim.channel, "riff", prompt=prompt)
    gated_runner.release_all()
    await sim.finish(gated_runner.submitted[0].job_id)

    assert result.response is not None
    assert "drums" in result.response.content
    posted = sim.bot_messages()
    assert posted
    for message in posted:
        assert message.ping_user_ids == []
        assert message.ping_role_ids == []
        assert not message.mention_everyone
    sends = [
        e
        for e in sim.env.http_requests
        if e.method in ("POST", "PATCH") and isinstance(e.json, dict) and "content" in e.json
    ]
    assert sends
    for entry in sends:
        assert isinstance(entry.json, dict)
        assert entry.json.get("allowed_mentions") == {"parse": []}, entry.path


async def test_blocked_words_refuse_before_anything_is_queued(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    admin_role = sim.guild.create_role("admin", permissions=discord.Permissions(manage_guild=True))
    admin = sim.guild.add_member(sim.env.create_user("admin"), roles=[admin_role])
    saved = await admin.slash(sim.channel, "settings block", word="Kazoo")
    assert saved.response is not None
    assert saved.response.ephemeral
    assert "kazoo" in saved.response.content

    refused = await sim.alice.slash(sim.channel, "riff", prompt="funky KAZOO solo")
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "blocked" in refused.response.content
    assert gated_runner.submitted == []
    assert await sim.store.recent_jobs(sim.alice.id) == []

    # A blocked word only matches whole words: "kazoos" is a different word.
    allowed = await sim.alice.slash(sim.channel, "riff", prompt="bass and kazoos")
    assert allowed.response is not None
    assert not allowed.response.ephemeral


async def test_settings_are_for_server_managers_only(sim: Sim) -> None:
    visible = sim.alice.available_commands(sim.channel)
    assert "riff" in visible
    assert not any(name.startswith("settings") for name in visible)
    # Even if a server grants the command to everyone, the handler still checks.
    command = next(c for c in await sim.bot.tree.fetch_commands() if c.name == "settings")
    sim.guild.set_command_permissions(command, {sim.alice: True})
    refused = await sim.alice.slash(sim.channel, "settings block", word="x")
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "Manage Server" in refused.response.content
