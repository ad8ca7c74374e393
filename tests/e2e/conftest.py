"""Fixtures for end-to-end tests on SimCord; other rooms' e2e tests may reuse them.

- ``tiny_dir``: the tiny test model, built once per session.
- ``bot_config``: a ``BotConfig`` writing under ``tmp_path``, progress edits unthrottled.
- ``store``: a ``DbStore`` on a freshly migrated SQLite file in ``tmp_path``.
- ``gated_runner``: a ``GatedRunner`` whose jobs wait until the test releases them.
- ``sim``: a running ``Sim`` (SimCord env, guild, #music, members alice/bob, the bot) on the
  gated runner.
- ``open_sim`` (from ``tests.e2e.harness``): build a ``Sim`` around any runner, e.g. the real
  engine, with ``extensions=[...]`` to plug in more cogs or command groups.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.db_store import DbStore
from db import Database, upgrade
from tests.e2e.harness import SEED_IMAGES, Sim, open_sim
from tests.fakes import GatedRunner


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generation.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny") / "tiny", seed=0)


@pytest.fixture
def bot_config(tmp_path: Path) -> BotConfig:
    return BotConfig(
        out_dir=tmp_path / "outputs",
        max_prompt_chars=200,
        default_steps=3,
        max_steps=10,
        progress_interval_s=0.0,
        max_active_per_user=2,
        max_queue_length=6,
        default_takes=1,  # the one-clip road; tests/e2e/test_takes.py asks for takes
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DbStore]:
    """The real history database: a migrated SQLite file in ``tmp_path``."""
    database = Database(f"sqlite:///{tmp_path / 'state' / 'riffbot.db'}")
    upgrade(database.url)
    yield DbStore(database, data_dir=tmp_path, model_id="tiny", shipped_seed_images=SEED_IMAGES)
    await database.aclose()


@pytest.fixture
def gated_runner() -> GatedRunner:
    return GatedRunner()


@pytest.fixture
async def sim(
    gated_runner: GatedRunner, store: DbStore, bot_config: BotConfig
) -> AsyncIterator[Sim]:
    # the gated runner's files are stand-ins, not pictures: a set posts take 1's
    async with open_sim(gated_runner, store, bot_config, combine_pictures=None) as running:
        yield running
