"""The HTTP layer for real: multipart uploads of the MP3/PNG and a 429 honoured by discord.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
import yarl

from bot.app import BotDeps, RiffBot, create_bot
from bot.config import BotConfig
from tests.e2e.harness import WAIT_S
from tests.e2e.wire import WireDiscord
from tests.fakes import GatedRunner, MemoryStore


@pytest.fixture
async def wire(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WireDiscord]:
    fake = WireDiscord()
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
    )
    yield fake
    await fake.stop()


@pytest.fixture
async def wired_bot(wire: WireDiscord, tmp_path: Path) -> AsyncIterator[RiffBot]:
    # one take: this is about one clip's files on the wire (takes: tests/e2e/test_takes.py)
    config = BotConfig(out_dir=tmp_path / "outputs", progress_interval_s=0.0, default_takes=1)
    bot = create_bot(BotDeps(runner=GatedRunner(auto=True), store=MemoryStore(), config=config))
    task = asyncio.create_task(bot.start("wire.fake.token"))
    await asyncio.wait_for(wire.ready.wait(), WAIT_S)
    await asyncio.wait_for(bot.wait_until_ready(), WAIT_S)
    yield bot
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)


async def test_result_files_go_up_as_multipart_and_a_429_is_waited_out(
    wire: WireDiscord, wired_bot: RiffBot
) -> None:
    wire.rate_limit_next_patch = 0.25
    await wire.interact("riff", [{"name": "prompt", "type": 3, "value": "@everyone wire"}])
    await asyncio.wait_for(wire.delivered.wait(), WAIT_S)

    callbacks = [r for r in wire.received if r.path.endswith("/callback")]
    assert [c.json["type"] for c in callbacks] == [5]  # deferred first
    uploads = [
        r
        for r in wire.received
        if r.method == "PATCH" and any(name.endswith(".mp3") for name, _ in r.files.values())
    ]
    assert [u.status for u in uploads] == [429, 200]
    limited, accepted = uploads
    assert accepted.at - limited.at >= 0.25  # discord.py slept for retry_after, then retried
    names = sorted(filename for filename, _ in accepted.files.values())
    assert names == ["riff-1.mp3", "riff-1.png"]
    data = {filename: body for filename, body in accepted.files.values()}
    assert data["riff-1.mp3"].startswith(b"ID3")
    assert len(data["riff-1.mp3"]) == 2048
    assert data["riff-1.png"].startswith(b"\x89PNG")
    assert len(data["riff-1.png"]) == 512
    assert accepted.json["allowed_mentions"] == {"parse": []}
    assert [a["filename"] for a in accepted.json["attachments"]] == ["riff-1.mp3", "riff-1.png"]
    assert "wire" in accepted.json["content"]
    assert "@everyone" not in accepted.json["content"]
