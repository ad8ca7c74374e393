from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from db.engine import Database
from db.jobs import create_job, describe_clip, mark_done, mark_running
from db.models import OutputFile
from db.queries import get_job
from db.retention import cleanup_outputs
from tests.db.conftest import riff
from tests.db.test_jobs import write_clip
from tests.db.test_queries import at


def finished_job(database: Database, data_dir: Path, minute: int, tag: str) -> int:
    with database.session() as s:
        job_id = create_job(s, riff(tag), user_id=1, model_id="m", now=at(minute)).id
        mark_running(s, job_id, now=at(minute))
    files = write_clip(data_dir / "outputs" / tag, tag=tag)
    with database.session() as s:
        mark_done(s, job_id, describe_clip(files), data_dir=data_dir, now=at(minute + 1))
    return job_id


def test_old_files_go_with_their_rows_and_new_ones_stay(database: Database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old = finished_job(database, data_dir, 0, "old")
    new = finished_job(database, data_dir, 60 * 24 * 40, "new")
    gone = finished_job(database, data_dir, 60 * 24 * 39, "gone")
    (data_dir / "outputs" / "gone" / "clip.mp3").unlink()  # deleted behind our back
    with database.session() as s:
        report = cleanup_outputs(
            s, older_than=timedelta(days=30), data_dir=data_dir, now=at(60 * 24 * 41)
        )
        purged = get_job(s, old)
        assert purged is not None
        assert purged.outputs == []  # rows already gone inside the transaction
    assert report.job_ids == sorted([old, gone])
    assert sorted(p.name for p in report.files) == [
        "clip.mp3",
        "params.json",
        "picture.png",
        "raw.png",
    ]
    assert report.missing_rows == 1
    assert report.bytes_freed == sum(
        len(f"old:{k}".encode()) * 100 for k in ("mp3", "raw", "pic", "json")
    )
    assert not (data_dir / "outputs" / "old").exists()  # the emptied folder too
    assert len(list((data_dir / "outputs" / "new").iterdir())) == 4
    with database.session() as s:
        old_job, new_job, gone_job = (get_job(s, i) for i in (old, new, gone))
        assert old_job is not None
        assert old_job.outputs == []
        assert old_job.outputs_purged_at
        assert new_job is not None
        assert len(new_job.outputs) == 4
        assert new_job.outputs_purged_at is None
        assert gone_job is not None
        assert len(gone_job.outputs) == 3
        # The invariant: no row points at a missing file.
        for row in s.query(OutputFile).all():
            assert row.resolve(data_dir).exists(), row.path


def test_a_rolled_back_cleanup_deletes_nothing(database: Database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    job_id = finished_job(database, data_dir, 0, "kept")
    session = database.sessions()
    session.begin()
    report = cleanup_outputs(
        session, older_than=timedelta(days=1), data_dir=data_dir, now=at(60 * 24 * 5)
    )
    assert len(report.files) == 4
    session.rollback()
    session.close()
    assert len(list((data_dir / "outputs" / "kept").iterdir())) == 4
    with database.session() as s:
        job = get_job(s, job_id)
        assert job is not None
        assert len(job.outputs) == 4
        assert job.outputs_purged_at is None
    # The same session machinery later commits a different cleanup without the stale files.
    with database.session() as s:
        report = cleanup_outputs(s, older_than=timedelta(days=1000), data_dir=data_dir)
        assert report.files == []
    assert len(list((data_dir / "outputs" / "kept").iterdir())) == 4


async def test_cleanup_through_the_async_engine_deletes_after_commit(
    adatabase: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    finished_job(adatabase, data_dir, 0, "async")
    report = await adatabase.run(
        cleanup_outputs, older_than=timedelta(days=1), data_dir=data_dir, now=at(60 * 24 * 2)
    )
    assert len(report.files) == 4
    assert not any(path.exists() for path in report.files)


def test_retention_covers_uploads_but_not_one_a_waiting_job_still_reads(
    database: Database, tmp_path: Path
) -> None:
    import os

    from db.models import utcnow
    from db.retention import cleanup_uploads

    uploads = tmp_path / "outputs" / "uploads"
    uploads.mkdir(parents=True)
    old, waiting, fresh = (uploads / name for name in ("1.wav", "2.wav", "3.png"))
    for path in (old, waiting, fresh):
        path.write_bytes(b"RIFF" + bytes(100))
    month_ago = (utcnow() - timedelta(days=31)).timestamp()
    for path in (old, waiting):
        os.utime(path, (month_ago, month_ago))
    with database.session() as s:
        create_job(s, riff(seed_image=str(waiting)), user_id=1, model_id="m")  # still queued
    with database.session() as s:
        report = cleanup_uploads(s, uploads, older_than=timedelta(days=30))
    assert report.files == [old]
    assert report.bytes_freed == 104
    assert sorted(p.name for p in uploads.iterdir()) == ["2.wav", "3.png"]
