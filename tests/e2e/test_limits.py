"""Lists that outgrow one Discord message: /queue and /history with 25 ordinary jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.config import BotConfig
from bot.db_store import DbStore
from tests.e2e.harness import Sim, open_sim
from tests.fakes import GatedRunner

PROMPT = "warm lofi piano with vinyl crackle, soft *brushed* drums and a _lazy_ bassline, take {}"


@pytest.fixture
async def roomy(
    gated_runner: GatedRunner, store: DbStore, bot_config: BotConfig
) -> AsyncIterator[Sim]:
    config = replace(bot_config, max_active_per_user=30, max_queue_length=40)
    async with open_sim(gated_runner, store, config) as running:
        yield running


async def test_queue_and_history_with_25_jobs_fit_and_say_how_many_more(
    roomy: Sim, gated_runner: GatedRunner
) -> None:
    for take in range(25):
        await roomy.alice.slash(roomy.channel, "riff", prompt=PROMPT.format(take))
    assert len(gated_runner.submitted) == 25

    for command in ("queue", "history"):
        result = await roomy.alice.slash(roomy.channel, command)
        assert result.response is not None, command
        text = result.response.content
        assert result.response.ephemeral
        assert "went wrong" not in text
        assert len(text) <= 2000
        assert "lofi piano" in text
    queue = (await roomy.alice.slash(roomy.channel, "queue")).response
    assert queue is not None
    shown = queue.content.count("\n#") + queue.content.count("\nrunning")
    assert queue.content.startswith("25 job(s) active:")
    assert queue.content.endswith(f"... and {25 - shown} more")
