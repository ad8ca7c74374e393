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

    import generation.engine as engine_module
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
    monkeypatch.setattr(engine_module, "pipeline_engine", lambda *a, **k: StandIn())
    monkeypatch.setattr(discord.Client, "run", refuse)
    assert main(["run", "--no-sync"]) == 1
    captured = capsys.readouterr()
    assert "refused the token" in captured.err
    assert secret not in captured.out + captured.err + caplog.text
