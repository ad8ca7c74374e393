"""``riffbot run``: a clear message without a token, and the token never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from riffbot.cli import main


def test_run_without_a_token_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("RIFFBOT_DISCORD_TOKEN", raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "DISCORD_TOKEN" in err
    assert ".env" in err


def test_a_refused_token_is_reported_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    import discord

    import generation.pipeline_engine as engine_module
    from tests.fakes import GatedRunner

    class StandIn(GatedRunner):
        def start(self, *, preload: bool = False) -> None: ...
        def close(self, **kwargs: object) -> None: ...

    def refuse(self: discord.Client, token: str, **kwargs: object) -> None:
        raise discord.LoginFailure("Improper token has been passed.")

    secret = "MTIz.secret-token-value.abc"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", secret)
    monkeypatch.setenv("RIFFBOT_DATABASE_URL", f"sqlite:///{tmp_path}/r.db")
    monkeypatch.setenv("RIFFBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RIFFBOT_MODEL", "tiny")  # passes the pre-login model check offline
    monkeypatch.setattr(engine_module, "pipeline_engine", lambda *a, **k: StandIn())
    monkeypatch.setattr(discord.Client, "run", refuse)
    assert main(["run", "--no-sync"]) == 1
    captured = capsys.readouterr()
    assert "refused the token" in captured.err
    assert secret not in captured.out + captured.err + caplog.text


def run_env_dir(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///")).parent.parent / "hub-cache"


@pytest.fixture
def run_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A token and a fresh database; logging in or building the bot fails the test."""
    import discord

    import riffbot.wiring

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("riffbot run got past its checks")

    url = f"sqlite:///{tmp_path}/state/r.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.token.abc")
    monkeypatch.setenv("RIFFBOT_DATABASE_URL", url)
    monkeypatch.setenv("RIFFBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RIFFBOT_MODEL", "tiny")
    monkeypatch.setattr(discord.Client, "run", never)
    monkeypatch.setattr(riffbot.wiring, "build_bot", never)
    return url


def test_run_refuses_a_model_it_cannot_load_before_connecting(
    run_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RIFFBOT_MODEL", "/nope")
    assert main(["run", "--no-sync"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("riffbot: error: RIFFBOT_MODEL: There is no model at '/nope'")
    assert err.count("\n") == 1
    monkeypatch.setenv("RIFFBOT_MODEL", "someone/not-downloaded-model")
    monkeypatch.setenv("RIFFBOT_MODEL_CACHE_DIR", str(run_env_dir(run_env)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["run", "--no-sync"]) == 2
    assert "not in the local cache" in capsys.readouterr().err


def test_a_second_process_on_one_sqlite_database_refuses_to_start(
    run_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from db.lock import hold_sqlite_lock; "
            f"lock = hold_sqlite_lock({run_env!r}); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "--no-sync"]) == 1
        err = capsys.readouterr().err
        assert f"another Riffbot process (pid {holder.pid}) is using the database" in err
        assert err.count("\n") == 1
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    # Once the first process is gone, the lock is free again (a crash never leaves it stale).
    from db.lock import hold_sqlite_lock

    lock = hold_sqlite_lock(run_env)
    assert lock is not None
    lock.release()
