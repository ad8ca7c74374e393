"""``riffbot serve`` deploys today's engine from settings onto the cluster; the bot and the radio
use it through the runner.

The replicas build their engine with ``riffbot.wiring.build_engine`` from the same settings
(without the Discord token, which never travels to the cluster) and load the tiny model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.fleet.deploy import app_handle
from generation.fleet.runner import FleetRunner
from generation.types import Endpoint, GenerationRequest, Mode, Priority
from riffbot.cli import main

pytestmark = pytest.mark.usefixtures("ray_cluster")


async def test_serve_deploys_the_settings_engine_and_jobs_run_on_it(
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ray import serve

    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in {
        "RIFFBOT_MODEL": str(tiny_dir),
        "RIFFBOT_DEVICE": "cpu",
        "RIFFBOT_DTYPE": "float32",
        "RIFFBOT_RAY_APP_NAME": "cli-serve",
        "DISCORD_TOKEN": "never-leaves-this-process",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        assert main(["serve"]) == 0
        assert "application 'cli-serve' is ready (1 replica(s))" in capsys.readouterr().out
        runner = FleetRunner(lambda: app_handle("cli-serve"))
        request = GenerationRequest(
            Mode.RIFF, Endpoint("served", seed=2), steps=2, seed_image=None, width=128
        )
        files = await runner.render(request, job_id="42", owner="user:1", out_dir=tmp_path)
        assert files.mp3.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
        assert files.duration_s == pytest.approx(1.28, abs=0.02)
        assert b'"prompt": "served"' in files.params_json.read_bytes()
        # The radio's face: the raw result, audio in memory, at radio priority.
        result = await runner.generate(
            request, job_id="radio-1", owner="radio:1", priority=Priority.RADIO
        )
        assert result.sample_rate == 44100
        assert result.audio.shape[-1] == pytest.approx(1.28 * 44100, rel=0.02)
    finally:
        serve.delete("cli-serve")
