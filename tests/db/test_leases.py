"""Several processes on one database: leases keep a job with its live owner, a SIGKILLed
owner's jobs are claimed by another process, and concurrent claims never overlap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from db.engine import Database
from db.jobs import create_job, mark_done, mark_running
from db.leases import Claim, Shards, claim_expired, renew_leases, take_lease
from db.models import Job, JobStatus, utcnow
from db.queries import get_job
from db.recovery import recover_interrupted
from tests.db.conftest import riff

REPO = Path(__file__).resolve().parents[2]


def worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.db.lease_worker", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def jobs(database: Database, count: int, guild_id: int | None = None) -> list[int]:
    with database.session() as s:
        return [
            create_job(s, riff(f"job {n}"), user_id=n, model_id="m", guild_id=guild_id).id
            for n in range(count)
        ]


def test_a_live_owner_keeps_its_jobs_and_a_sigkilled_one_loses_them_to_another(
    database: Database, db_url: str
) -> None:
    ids = jobs(database, 4)
    with database.session() as s:
        mark_running(s, ids[0])
    keeper = worker("keep", db_url, "process-a", "1.0")
    try:
        assert keeper.stdout is not None
        claimed = keeper.stdout.readline().split()
        assert claimed[0] == "claimed"
        assert sorted(int(i) for i in claimed[1:]) == ids
        # Eight renewals span well over the 1 s lease: the jobs stay A's all along.
        for _ in range(8):
            assert keeper.stdout.readline().split() == ["renewed", "4"]
            with database.session() as s:
                assert claim_expired(s, "process-b", lease_s=1.0) == []
    finally:
        keeper.send_signal(signal.SIGKILL)
        keeper.wait(timeout=30)
        if keeper.stdout is not None:
            keeper.stdout.close()
    assert keeper.returncode == -signal.SIGKILL

    later = utcnow() + timedelta(seconds=2)  # past any lease A could have renewed
    with database.session() as s:
        report = recover_interrupted(
            s, inputs_exist=lambda job: True, claim=Claim("process-b", lease_s=60, now=later)
        )
    assert sorted(job.id for job in report.requeued) == ids
    with database.session() as s:
        for job_id in ids:
            job = get_job(s, job_id)
            assert job is not None
            assert job.owner == "process-b"
            assert job.status == JobStatus.QUEUED  # the running one was re-queued
        assert claim_expired(s, "process-c", lease_s=60, now=later) == []  # B's now


def test_two_processes_claiming_at_once_take_disjoint_jobs(database: Database, db_url: str) -> None:
    ids = jobs(database, 24)
    drainers = [worker("drain", db_url, f"process-{n}") for n in range(2)]
    taken: dict[int, list[int]] = {0: [], 1: []}
    for n, process in enumerate(drainers):
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        lines = out.splitlines()
        assert lines[-1] == "done"
        for line in lines[:-1]:
            taken[n].extend(int(i) for i in line.split()[1:])
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == ids
    with database.session() as s:
        owners = {job_id: s.get(Job, job_id).owner for job_id in ids}  # type: ignore[union-attr]
    assert all(owners[i] == "process-0" for i in taken[0])
    assert all(owners[i] == "process-1" for i in taken[1])


def test_leases_follow_the_owner_and_end_with_the_job(database: Database) -> None:
    first, second = jobs(database, 2)
    now = utcnow()
    with database.session() as s:
        take_lease(s, first, "a", lease_s=10, now=now)
        take_lease(s, second, "a", lease_s=10, now=now)
        mark_running(s, first)
        mark_done(s, first, timings={"total": 1.0})
        assert renew_leases(s, "a", lease_s=10, now=now) == 1  # the finished job is not kept
        assert renew_leases(s, "b", lease_s=10, now=now) == 0
        assert claim_expired(s, "b", lease_s=10, now=now + timedelta(seconds=5)) == []
        claimed = claim_expired(s, "b", lease_s=10, now=now + timedelta(seconds=11))
        assert [job.id for job in claimed] == [second]


@pytest.mark.parametrize(("shard", "expected"), [(0, "even"), (1, "odd")])
def test_a_shard_claims_only_its_own_guilds_jobs(
    database: Database, shard: int, expected: str
) -> None:
    even = jobs(database, 1, guild_id=2 << 22)  # (guild >> 22) % 2 == 0
    odd = jobs(database, 1, guild_id=3 << 22)
    with database.session() as s:
        claimed = claim_expired(s, "p", lease_s=10, shards=Shards(2, [shard]))
    assert [job.id for job in claimed] == (even if expected == "even" else odd)
