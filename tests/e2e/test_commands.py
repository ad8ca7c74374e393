"""The other commands: /blend, /remix, /show, /history, /help, and declared bounds."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from simcord import OptionError

from bot.config import BotConfig
from bot.db_store import DbStore
from tests.e2e.harness import Sim
from tests.fakes import GatedRunner


async def test_bounds_are_declared_so_discord_validates_them(sim: Sim) -> None:
    with pytest.raises(OptionError):
        await sim.alice.slash(sim.channel, "riff", prompt="x", steps=500)
    with pytest.raises(OptionError):
        await sim.alice.slash(sim.channel, "riff", prompt="x", strength=1.5)
    with pytest.raises(OptionError):
        await sim.alice.slash(sim.channel, "riff", prompt="x" * 201)
    with pytest.raises(OptionError):
        await sim.alice.slash(sim.channel, "blend", a="a", b="b", length=99)


async def test_seed_image_autocomplete_and_unknown_names(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    choices = await sim.alice.autocomplete(sim.channel, "riff", "seed_image", "ha", prompt="x")
    assert [c["value"] for c in choices] == ["half_time"]
    refused = await sim.alice.slash(sim.channel, "riff", prompt="x", seed_image="nope")
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "no seed image called" in refused.response.content
    await sim.alice.slash(
        sim.channel, "riff", prompt="x", seed_image="breakbeat", negative="vocals"
    )
    assert gated_runner.submitted[0].request.seed_image == "breakbeat"
    assert gated_runner.submitted[0].request.negative_prompt == "vocals"


async def test_blend_accepts_prompts_and_job_ids(sim: Sim, gated_runner: GatedRunner) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="violin drone", seed=11)
    first = gated_runner.submitted[0].job_id
    await sim.finish(first)

    result = await sim.alice.slash(
        sim.channel, "blend", a=f"#{first}", b="techno kick", seed_b=5, length=10
    )
    blend = gated_runner.submitted[-1]
    await sim.finish(blend.job_id)
    assert blend.request.mode.value == "blend"
    assert blend.request.start.prompt == "violin drone"
    assert blend.request.start.seed == 11
    assert blend.request.end is not None
    assert blend.request.end == blend.request.end.__class__(
        "techno kick", 5, blend.request.end.strength, blend.request.end.guidance
    )
    assert blend.request.clips == 2  # 10 s: two 5.11 s clips, alpha 0 then 1
    assert result.response is not None
    assert "→" in result.response.content
    job = await sim.store.get_job(blend.job_id)
    assert job is not None
    assert job.parent_id == first
    assert job.action == "blend"

    await sim.alice.slash(sim.channel, "blend", a="808", b=str(first))
    numbers = gated_runner.submitted[-1]
    await sim.finish(numbers.job_id)
    assert numbers.request.start.prompt == "808"  # a prompt, not job 808
    assert numbers.request.end is not None
    assert numbers.request.end.prompt == str(first)  # only "#N" names a job in /blend

    missing = await sim.alice.slash(sim.channel, "blend", a="#999", b="x")
    assert missing.response is not None
    assert missing.response.ephemeral
    assert "no job #999" in missing.response.content


async def test_remix_checks_type_and_size_then_saves_the_upload(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    text = await sim.alice.slash(sim.channel, "remix", audio=("notes.txt", b"hello"), prompt="jazz")
    assert text.response is not None
    assert text.response.ephemeral
    assert "not an audio file" in text.response.content
    huge = b"\x00" * (sim.config.max_upload_bytes + 1)
    big = await sim.alice.slash(sim.channel, "remix", audio=("big.wav", huge), prompt="jazz")
    assert big.response is not None
    assert big.response.ephemeral
    assert "the limit is" in big.response.content
    assert gated_runner.submitted == []

    audio = b"RIFF" + bytes(100)
    await sim.alice.slash(
        sim.channel, "remix", audio=("take.wav", audio), prompt="as a string quartet", strength=0.6
    )
    remix = gated_runner.submitted[0]
    assert remix.request.mode.value == "remix"
    assert remix.request.start.strength == 0.6
    assert remix.request.seed_image is not None
    saved = await asyncio.to_thread(Path(remix.request.seed_image).read_bytes)
    assert saved == audio


async def test_show_history_and_help(sim: Sim, gated_runner: GatedRunner) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="sea shanty <@&1>")
    job_id = gated_runner.submitted[0].job_id
    await sim.finish(job_id)

    choices = await sim.alice.autocomplete(sim.channel, "show", "job", "shanty")
    assert [c["value"] for c in choices] == [job_id]
    shown = await sim.bob.slash(sim.channel, "show", job=f"#{job_id}")
    assert shown.response is not None
    assert len(shown.response.attachments) == 2
    assert f"riff:reroll:{job_id}" in str(shown.response.components)
    assert await sim.store.job_for_message(shown.response.id) is not None

    mine = await sim.alice.slash(sim.channel, "history")
    assert mine.response is not None
    assert mine.response.ephemeral
    assert f"#{job_id}" in mine.response.content
    theirs = await sim.bob.slash(sim.channel, "history", user=sim.alice)
    assert theirs.response is not None
    assert f"#{job_id}" in theirs.response.content
    empty = await sim.bob.slash(sim.channel, "history")
    assert empty.response is not None
    assert "No jobs yet" in empty.response.content

    helped = await sim.alice.slash(sim.channel, "help")
    assert helped.response is not None
    assert helped.response.ephemeral
    for emoji in ("🔁", "🎲", "⏩", "🔂", "🔀"):
        assert emoji in helped.response.content


async def test_riff_takes_an_audio_or_png_attachment_as_its_seed(
    sim: Sim, gated_runner: GatedRunner
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    await sim.alice.slash(sim.channel, "riff", prompt="from my picture", attachment=("s.png", png))
    seed = gated_runner.submitted[0].request.seed_image
    assert seed is not None
    assert seed.endswith(".png")
    assert await asyncio.to_thread(Path(seed).read_bytes) == png
    refused = await sim.alice.slash(
        sim.channel, "riff", prompt="x", attachment=("notes.pdf", b"%PDF")
    )
    assert refused.response is not None
    assert refused.response.ephemeral
    assert "not an audio file or a PNG spectrogram" in refused.response.content
    assert len(gated_runner.submitted) == 1


async def test_a_crashing_button_still_answers(
    sim: Sim, gated_runner: GatedRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated_runner.auto = True
    await sim.alice.slash(sim.channel, "riff", prompt="fragile")
    job_id = gated_runner.submitted[0].job_id
    await sim.finish(job_id)
    post = sim.message_for(job_id)

    async def broken(job_id: str) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(sim.store, "get_job", broken)
    clicked = await sim.bob.click(post, custom_id=f"riff:info:{job_id}")
    assert clicked.response is not None
    assert clicked.response.ephemeral
    assert "Something went wrong on our side" in clicked.response.content
    assert "database on fire" not in clicked.response.content


async def test_commands_sync_to_the_development_guild_when_set(
    store: DbStore, bot_config: BotConfig
) -> None:
    import simcord

    from bot.app import BotDeps, create_bot

    guild_id = 1_234_567_890_123_456_789
    config = replace(bot_config, dev_guild_id=guild_id)
    bot = create_bot(BotDeps(runner=GatedRunner(), store=store, config=config))
    env = simcord.Env(bot)
    guild = env.create_guild("dev", id=guild_id)
    channel = guild.create_text_channel("dev")
    member = guild.add_member(env.create_user("dev"))
    await env.start()
    try:
        syncs = [e.path for e in env.http_requests if e.method == "PUT"]
        assert syncs == [f"/applications/{env.backend.application_id}/guilds/{guild_id}/commands"]
        assert "riff" in member.available_commands(channel)
    finally:
        await env.shutdown()


async def test_remix_refuses_clips_longer_than_the_limit(
    store: DbStore, bot_config: BotConfig, tmp_path: Path
) -> None:
    import imageio_ffmpeg

    from bot.media import probe_duration
    from tests.e2e.harness import open_sim

    def sine(seconds: int) -> bytes:
        path = tmp_path / f"sine{seconds}.mp3"
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-nostdin",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=duration={seconds}",
                "-b:a",
                "32k",
                str(path),
            ],
            check=True,
        )
        return path.read_bytes()

    short, long = await asyncio.to_thread(sine, 2), await asyncio.to_thread(sine, 9)
    runner = GatedRunner()
    config = replace(bot_config, max_audio_seconds=5.0)
    async with open_sim(runner, store, config, probe=probe_duration) as sim:
        refused = await sim.alice.slash(sim.channel, "remix", audio=("long.mp3", long), prompt="x")
        assert refused.response is not None
        assert "is 9 s long; the limit is 5 s" in refused.response.content
        assert runner.submitted == []
        job = (await sim.store.recent_jobs(sim.alice.id))[0]
        assert job.status.value == "failed"

        await sim.alice.slash(sim.channel, "remix", audio=("short.mp3", short), prompt="x")
        assert len(runner.submitted) == 1
