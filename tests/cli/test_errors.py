"""Every command-line failure is one line, ``riffbot: error: ...``, exit 2 (usage) or 1
(runtime); outputs are checked before anything slow runs and are written whole or not at all;
read-only commands never create a database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from generation import codec
from generation.params import SpectrogramParams
from generation.synth import music_clip
from riffbot.cli import main

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    monkeypatch.setenv("RIFFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RIFFBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'riffbot.db'}")


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("riffbot: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def spectrogram(tmp_path: Path) -> Path:
    params = SpectrogramParams()
    audio = music_clip(0, seconds=1.0)
    image = codec.image_from_audio(np.asarray(audio, dtype=np.float32), params)
    path = tmp_path / "s.png"
    codec.save_png(image, path)
    return path


def test_missing_output_folders_are_refused_before_any_work(
    tmp_path: Path, spectrogram: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "nowhere" / "out.mp3"
    assert main(["image-to-audio", str(spectrogram), str(gone)]) == 2
    assert "'" + str(gone.parent) + "' does not exist" in one_line(capsys)
    assert main(["audio-to-image", str(tmp_path / "x.wav"), str(tmp_path / "nowhere/x.png")]) == 2
    one_line(capsys)
    assert main(["radio", "--model", "synthetic", "--out", str(gone)]) == 2
    one_line(capsys)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["model", "make-tiny", str(blocker / "tiny")]) == 2
    assert "is a file" in one_line(capsys)
    assert main(["model", "convert", str(tmp_path), str(gone.with_suffix(".safetensors"))]) == 2
    one_line(capsys)


def test_riff_checks_its_output_folder_before_loading_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr("riffbot.wiring.load_model_from_settings", never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["riff", "beat", "--model", "tiny", "--out", str(blocker / "out")]) == 2
    assert "is a file" in one_line(capsys)


@pytest.mark.skipif(ROOT, reason="root may write into read-only folders")
def test_read_only_output_folder_is_refused(
    tmp_path: Path, spectrogram: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["image-to-audio", str(spectrogram), str(locked / "o.wav")]) == 2
        assert "not writable" in one_line(capsys)
    finally:
        locked.chmod(0o700)


def test_a_bad_bitrate_is_a_usage_error_and_leaves_no_file(
    tmp_path: Path, spectrogram: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["image-to-audio", str(spectrogram), str(tmp_path / "o.mp3"), "--bitrate", "zzz"])
    assert exited.value.code == 2
    assert "'zzz' is not a bitrate" in one_line(capsys)
    assert list(tmp_path.glob("*o*.mp3")) == []


def test_a_failed_encode_leaves_no_half_written_output(
    tmp_path: Path,
    spectrogram: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(audio: object, rate: int, path: Path, **kwargs: object) -> Path:
        Path(path).write_bytes(b"")  # what ffmpeg leaves when it dies
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("generation.audio.export_mp3", broken)
    assert main(["image-to-audio", str(spectrogram), str(tmp_path / "o.mp3")]) == 1
    assert "No space left" in one_line(capsys)
    assert not list(tmp_path.glob("*o*.mp3"))
    assert not list(tmp_path.glob(".*partial*"))


def test_a_bad_setting_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIFFBOT_MAX_ACTIVE_JOBS_PER_USER", "lots")
    assert main(["show", "1"]) == 2
    assert "RIFFBOT_MAX_ACTIVE_JOBS_PER_USER" in one_line(capsys)


def test_read_only_commands_never_create_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "999"]) == 1
    assert "there is no database" in one_line(capsys)
    assert main(["db", "history", "--user", "1"]) == 1
    one_line(capsys)
    assert main(["db", "cleanup", "--days", "3"]) == 1
    one_line(capsys)
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("kind", ["corrupt", "directory", "bad url"])
def test_an_unusable_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = tmp_path / "state" / "riffbot.db"
    path.parent.mkdir()
    if kind == "corrupt":
        path.write_bytes(b"this is not a database" * 100)
    elif kind == "directory":
        path.mkdir()
    else:
        monkeypatch.setenv("RIFFBOT_DATABASE_URL", "sqlite:::nonsense")
    import discord

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("riffbot run logged in on an unusable database")

    monkeypatch.setattr(discord.Client, "run", never)
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.token.abc")
    monkeypatch.setenv("RIFFBOT_MODEL", "tiny")  # get past the model check to the database
    commands = (["db", "upgrade"], ["show", "1"], ["db", "cleanup", "--days", "1"], ["run"])
    for command in commands:
        assert main(command) in (1, 2), command
        assert "database" in one_line(capsys), command


@pytest.mark.parametrize("seed", [None, "seven", 1.5])
def test_extend_on_a_record_without_a_usable_seed_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spectrogram: Path, seed: object
) -> None:
    record = tmp_path / "clip.json"
    record.write_text(
        json.dumps(
            {"request": {"start": {"prompt": "x", "seed": seed}}, "files": {"raw_png": "s.png"}}
        )
    )
    assert main(["extend", str(record), "--model", "tiny", "--out", str(tmp_path / "o")]) == 2
    assert "no usable seed" in one_line(capsys)
