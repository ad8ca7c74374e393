from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from db.engine import Database
from db.jobs import create_job, describe_clip, mark_done, mark_running
from db.migrate import upgrade
from db.models import Job, JobStatus
from db.queries import get_job, jobs_with_status
from db.recovery import MISSING_INPUTS, files_exist_checker, recover_interrupted
from tests.db.conftest import riff
from tests.db.test_jobs import write_clip

REPO = Path(__file__).resolve().parents[2]


def run_stand_in(database: Database, job_id: int, data_dir: Path) -> None:
    """What the engine does with a re-queued job: run it and store its files."""
    with database.session() as s:
        mark_running(s, job_id)
    files = write_clip(data_dir / "outputs" / str(job_id), tag=str(job_id))
    with database.session() as s:
        mark_done(s, job_id, describe_clip(files), data_dir=data_dir, duration_s=files.duration_s)


@pytest.mark.timeout(60)
def test_a_job_running_when_the_process_is_sigkilled_is_requeued_and_completes(
    db_url: str, database: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    upload = data_dir / "uploads" / "clip.wav"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"RIFF")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.db.crash_worker", db_url, "uploads/clip.wav"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()  # blocks until the worker is mid-job
        assert line.startswith("ready"), line
        running_id, waiting_id = (int(part) for part in line.split()[1:])
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        if worker.stdout is not None:
            worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL

    upload.unlink()  # the waiting remix's input is gone after the crash
    database.dispose()
    restarted = Database(db_url)
    upgrade(restarted.url)
    checker = files_exist_checker(data_dir=data_dir, shipped_seed_images={"og_beat"})
    with restarted.session() as s:
        report = recover_interrupted(s, inputs_exist=checker)
    assert [job.id for job in report.requeued] == [running_id]
    assert [job.id for job in report.failed] == [waiting_id]
    assert report.failed[0].error == MISSING_INPUTS

    with restarted.session() as s:
        job = get_job(s, running_id)
        assert job is not None
        assert job.status == JobStatus.QUEUED
        assert job.attempts == 1
        assert job.note is not None
        assert "restart" in job.note
        assert s.scalars(select(Job).where(Job.prompt == "never committed")).all() == []
    run_stand_in(restarted, running_id, data_dir)
    with restarted.session() as s:
        job = get_job(s, running_id)
        assert job is not None
        assert job.status == JobStatus.DONE
        assert job.attempts == 2
        assert len(job.outputs) == 4
        assert all(o.resolve(data_dir).exists() for o in job.outputs)
        assert jobs_with_status(s, JobStatus.QUEUED, JobStatus.RUNNING) == []
    if restarted.url.get_backend_name() == "sqlite":  # PostgreSQL's WAL has no such check
        with restarted.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    restarted.dispose()


def test_recovery_requeues_waits_and_fails_what_cannot_run(database: Database) -> None:
    with database.session() as s:
        waiting = create_job(s, riff("waiting"), user_id=1, model_id="m").id
        running = create_job(s, riff("running"), user_id=1, model_id="m").id
        lost = create_job(
            s, riff("lost", seed_image="uploads/gone.wav"), user_id=2, model_id="m"
        ).id
        lost_running = create_job(
            s, riff("lost too", seed_image="/nowhere/raw.png"), user_id=2, model_id="m"
        ).id
        done = create_job(s, riff("done"), user_id=3, model_id="m").id
        for job_id in (running, lost_running, done):
            mark_running(s, job_id)
        mark_done(s, done)
    seen: list[int] = []

    def inputs_exist(job: Job) -> bool:
        seen.append(job.id)
        return job.seed_image is None or not job.seed_image.endswith(("gone.wav", "raw.png"))

    with database.session() as s:
        report = recover_interrupted(s, inputs_exist=inputs_exist)
    assert sorted(seen) == sorted([waiting, running, lost, lost_running])  # never the done one
    assert [j.id for j in report.requeued] == [waiting, running]
    assert [j.id for j in report.failed] == [lost, lost_running]
    assert report.total == 4
    with database.session() as s:
        statuses = {i: get_job(s, i).status for i in (waiting, running, lost, lost_running, done)}  # type: ignore[union-attr]
    assert statuses == {
        waiting: JobStatus.QUEUED,
        running: JobStatus.QUEUED,
        lost: JobStatus.FAILED,
        lost_running: JobStatus.FAILED,
        done: JobStatus.DONE,
    }
    with database.session() as s:
        assert recover_interrupted(s, inputs_exist=inputs_exist).requeued[0].id == waiting


def test_a_job_that_keeps_killing_the_process_is_given_up(database: Database) -> None:
    with database.session() as s:
        job_id = create_job(s, riff(), user_id=1, model_id="m").id
    for attempt in range(1, 4):
        with database.session() as s:
            mark_running(s, job_id)
        with database.session() as s:
            report = recover_interrupted(s, inputs_exist=lambda _job: True, max_attempts=3)
        if attempt < 3:
            assert [j.id for j in report.requeued] == [job_id]
    assert [j.id for j in report.failed] == [job_id]
    assert report.failed[0].error is not None
    assert "3 times" in report.failed[0].error


def test_files_exist_checker_knows_names_from_paths(tmp_path: Path) -> None:
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "a.wav").write_bytes(b"x")
    check = files_exist_checker(data_dir=tmp_path, shipped_seed_images={"og_beat.png"})

    def job(seed_image: str | None, mask: str | None = None) -> Job:
        return Job(request=riff(seed_image=seed_image, mask=mask).to_dict())

    assert check(job(None))
    assert check(job("og_beat"))
    assert check(job("og_beat.png"))
    assert check(job("uploads/a.wav"))
    assert check(job(str(tmp_path / "uploads" / "a.wav")))
    assert not check(job("uploads/b.wav"))
    assert not check(job(None, mask="masks/missing.png"))


def test_paths_the_bot_writes_under_a_relative_data_dir_count_as_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default settings: data_dir "data", uploads under "data/outputs/uploads/…", written
    # into requests as working-directory-relative paths (the generator opens them that way).
    monkeypatch.chdir(tmp_path)
    data_dir = Path("data")
    upload = data_dir / "outputs" / "uploads" / "77.wav"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"RIFF")
    check = files_exist_checker(data_dir=data_dir)

    assert check(Job(request=riff(seed_image=str(upload)).to_dict()))
    upload.unlink()
    assert not check(Job(request=riff(seed_image=str(upload)).to_dict()))
