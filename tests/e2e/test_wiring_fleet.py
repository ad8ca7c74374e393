"""``riffbot run``'s construction for the big road: shards, leases on PostgreSQL, the fleet.

The embedded default stays as it was (no shards, no leases, the in-process engine); with a
PostgreSQL URL the store claims with a lease and the lease keeper runs; with shard settings the
bot is discord.py's ``AutoShardedClient`` on exactly those shards; ``RIFFBOT_ENGINE=ray`` gives
the fleet's runner. Nothing logs in and nothing connects to Ray here.
"""

from __future__ import annotations

from pathlib import Path

import discord

from db.leases import Shards
from generation.engine import Engine
from generation.fleet.runner import FleetRunner
from riffbot.settings import Settings
from riffbot.wiring import build_bot
from tests.db.conftest import postgres_server  # noqa: F401  (a session fixture)
from tests.db.postgres import PostgresServer


def settings_for(tmp_path: Path, **values: object) -> Settings:
    """The web companion stays off: these tests count the extensions scaling adds."""
    return Settings(
        _env_file=None,
        model="tiny",
        data_dir=tmp_path / "data",
        web_enabled=False,
        **values,  # type: ignore[arg-type]
    )


async def test_the_embedded_default_has_no_shards_no_leases_and_the_local_engine(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, database_url=f"sqlite:///{tmp_path / 'riffbot.db'}")
    bot, engine, database = build_bot(settings, sync_commands=False)
    try:
        assert not isinstance(bot, discord.AutoShardedClient)
        assert isinstance(engine, Engine)
        assert bot.services.store.claim is None  # type: ignore[attr-defined]
        assert len(bot.deps.extensions) == 1  # the radio only
    finally:
        await bot.close()
        engine.close()
        database.dispose()


async def test_shards_on_postgresql_claim_with_a_lease_and_the_fleet_runs_generation(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    settings = settings_for(
        tmp_path,
        database_url=postgres_server.create_database(),
        shard_count=4,
        shard_ids=[1, 3],
        job_lease_s=30,
        engine="ray",
    )
    bot, runner, database = build_bot(settings, sync_commands=False)
    try:
        assert isinstance(bot, discord.AutoShardedClient)
        assert bot.shard_count == 4
        assert bot.shard_ids == [1, 3]
        assert isinstance(runner, FleetRunner)
        claim = bot.services.store.claim  # type: ignore[attr-defined]
        assert claim is not None
        assert claim.lease_s == 30
        assert claim.shards == Shards(4, [1, 3])
        assert len(bot.deps.extensions) == 2  # the radio and the lease keeper
    finally:
        # Never logged in: an AutoShardedClient has nothing to close before it starts.
        database.dispose()


def test_the_replicas_engine_factory_carries_no_discord_token(tmp_path: Path) -> None:
    import pickle

    from riffbot.fleet import ReplicaEngine
    from riffbot.wiring import build_engine

    settings = settings_for(tmp_path, discord_token="very-secret-token")
    factory = ReplicaEngine.of(settings, build_engine)
    assert factory.settings.discord_token is None
    assert b"very-secret-token" not in pickle.dumps(factory)  # what Serve ships
    assert settings.discord_token is not None  # the bot's own settings keep it
