"""Two bot processes' stores on one database: each keeps the jobs it accepted, and the
survivor's recovery takes over the jobs of the one that stopped, never the other's live ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.db_store import DbStore
from db.engine import Database
from db.leases import Claim
from db.migrate import upgrade
from db.models import Job, utcnow
from generation.types import Endpoint, GenerationRequest, Mode


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'riffbot.db'}")
    upgrade(db.url)
    yield db
    db.dispose()


def store(database: Database, tmp_path: Path, claim: Claim) -> DbStore:
    return DbStore(database, data_dir=tmp_path, model_id="tiny", claim=claim)


def riff(prompt: str) -> GenerationRequest:
    return GenerationRequest(Mode.RIFF, Endpoint(prompt, seed=1), seed_image=None)


async def test_a_survivor_takes_over_only_the_jobs_of_the_process_that_stopped(
    database: Database, tmp_path: Path
) -> None:
    first = store(database, tmp_path, Claim("process-a", lease_s=30))
    second = store(database, tmp_path, Claim("process-b", lease_s=30))
    kept = await first.create_job(riff("a's job"), user_id=1, guild_id=5, channel_id=6)
    own = await second.create_job(riff("b's job"), user_id=2, guild_id=5, channel_id=6)
    with database.session() as s:
        row = s.get(Job, int(kept.id))
        assert row is not None
        assert row.owner == "process-a"
        assert row.lease_expires_at is not None

    # Both alive: neither takes anything over, and each renews only its own job.
    assert (await second.recover()).requeued == []
    assert await first.renew_leases() == 1

    # A stops renewing; once its lease is past, B's recovery takes A's job, not its own.
    later = utcnow() + timedelta(seconds=31)
    survivor = store(database, tmp_path, Claim("process-b", lease_s=30, now=later))
    with database.session() as s:  # B kept renewing its own job meanwhile
        row = s.get(Job, int(own.id))
        assert row is not None
        row.lease_expires_at = later + timedelta(seconds=30)
    taken = await survivor.recover()
    assert [job.id for job in taken.requeued] == [kept.id]
    assert await first.renew_leases() == 0  # it is B's now
    assert await survivor.renew_leases() == 2
