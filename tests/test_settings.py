"""Settings: every key documented, the token kept secret, the environment honoured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riffbot.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def env_key(field: str) -> str:
    return "DISCORD_TOKEN" if field == "discord_token" else f"RIFFBOT_{field.upper()}"


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    expected = {env_key(name) for name in Settings.model_fields}
    assert documented == expected


def test_token_and_values_come_from_the_environment_and_the_token_never_prints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    monkeypatch.setenv("RIFFBOT_MAX_QUEUE_LENGTH", "7")
    settings = Settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "very-secret-token"
    assert settings.max_queue_length == 7
    assert "very-secret-token" not in repr(settings)
    assert "very-secret-token" not in str(settings.model_dump())


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIFFBOT_MODEL", raising=False)
    (tmp_path / ".env").write_text("RIFFBOT_MODEL=tiny\n")
    assert Settings().model == "tiny"


def test_the_scaling_keys_left_empty_as_in_env_example_mean_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("RIFFBOT_RAY_NUM_GPUS", "RIFFBOT_RAY_ADDRESS", "RIFFBOT_SHARD_IDS"):
        monkeypatch.setenv(key, "")
    monkeypatch.setenv("RIFFBOT_SHARD_COUNT", "4")
    settings = Settings()
    assert settings.ray_num_gpus is None
    assert settings.ray_address is None
    assert settings.shard_ids is None
    assert settings.shard_count == 4
    assert settings.engine == "local"  # the embedded default


def test_empty_values_mean_the_default_and_the_batch_follows_the_device(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from riffbot.wiring import max_batch_for

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RIFFBOT_ENGINE_MAX_BATCH=\nRIFFBOT_DEVICE=cpu\n")
    settings = Settings()
    assert settings.engine_max_batch is None
    assert max_batch_for(settings) == 1  # CPU: batching measured no better
    monkeypatch.setenv("RIFFBOT_ENGINE_MAX_BATCH", "3")
    assert max_batch_for(Settings()) == 3
