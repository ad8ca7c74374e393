from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import Database, make_sync_engine
from db.jobs import create_job, describe_clip, mark_done, mark_running
from db.migrate import head_revision, upgrade
from db.queries import record_post
from riffbot.cli import main
from tests.db.conftest import riff
from tests.db.test_jobs import write_clip


@pytest.fixture
def env_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli' / 'riffbot.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    monkeypatch.setenv("RIFFBOT_DATABASE_URL", url)
    monkeypatch.setenv("RIFFBOT_DATA_DIR", str(tmp_path / "data"))
    return url


def test_db_upgrade_creates_and_migrates(env_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0

    assert f"revision {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0  # idempotent
    engine = make_sync_engine(env_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert main(["db", "upgrade"]) == 1
    assert "newer Riffbot" in capsys.readouterr().err


def test_history_and_show(env_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = Database(env_url)
    upgrade(database.url)
    data_dir = tmp_path / "data"
    with database.session() as s:
        root = create_job(s, riff("warm rhodes ☕"), user_id=42, guild_id=1, model_id="tiny").id
        child = create_job(
            s,
            riff("warm rhodes ☕", seed=8),
            user_id=42,
            model_id="tiny",
            parent_id=root,
            action="reroll",
        ).id
        create_job(s, riff("someone else"), user_id=7, model_id="tiny")
        mark_running(s, child)
    files = write_clip(data_dir / "outputs" / str(child))
    with database.session() as s:
        mark_done(s, child, describe_clip(files), data_dir=data_dir, timings={"unet": 2.0})
        record_post(s, message_id=987654321, channel_id=5, job_id=child)
    database.dispose()

    assert main(["db", "history", "--user", "42", "--limit", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == [f"#{child}", f"#{root}"]
    assert "warm rhodes ☕" in out[0]
    assert "done" in out[0]
    assert "queued" in out[1]
    assert main(["db", "history", "--user", "42", "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["db", "history", "--user", "3"]) == 0
    assert "no jobs" in capsys.readouterr().out

    assert main(["show", f"#{child}"]) == 0
    shown = capsys.readouterr().out
    assert f"job:          #{child}" in shown
    assert "prompt:       warm rhodes ☕" in shown
    assert f"reroll of #{root}" in shown
    assert f"#{child} <- #{root}" in shown
    assert "outputs/" in shown
    assert "sha256" in shown
    assert "message 987654321" in shown
    assert "unet 2.00s" in shown

    assert main(["show", "4040"]) == 1
    assert "no job #4040" in capsys.readouterr().err
    assert main(["show", "nonsense"]) == 2
    assert "not a job id" in capsys.readouterr().err


def test_db_cleanup_uses_the_retention_setting(
    env_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = Database(env_url)
    upgrade(database.url)
    data_dir = tmp_path / "data"
    with database.session() as s:
        job_id = create_job(s, riff(), user_id=1, model_id="m").id
        mark_running(s, job_id)
    files = write_clip(data_dir / "outputs" / "x")
    with database.session() as s:
        old = mark_done(s, job_id, describe_clip(files), data_dir=data_dir)
        assert old.finished_at is not None
        old.finished_at = old.finished_at - timedelta(days=10)
    database.dispose()
    monkeypatch.setenv("RIFFBOT_OUTPUT_RETENTION_DAYS", "0")
    assert main(["db", "cleanup"]) == 0
    assert "retention is off" in capsys.readouterr().out
    assert files.mp3.exists()
    assert main(["db", "cleanup", "--days", "30"]) == 0
    assert "deleted 0 files" in capsys.readouterr().out
    assert main(["db", "cleanup", "--days", "7"]) == 0
    assert "deleted 4 files" in capsys.readouterr().out
    assert not files.mp3.exists()
