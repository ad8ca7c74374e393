"""The generation commands as a new user runs them, on the tiny model (offline)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from generation.audio import write_wav
from generation.params import SpectrogramParams
from generation.tiny import make_tiny
from riffbot.cli import main

FAST = ["--steps", "3", "--width", "256"]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache whose ``tiny`` model is already built, so ``--model tiny`` just loads."""
    cache = tmp_path_factory.mktemp("model-cache")
    make_tiny(cache / "tiny", seed=0)
    return cache


@pytest.fixture(autouse=True)
def environment(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("RIFFBOT_MODEL_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("RIFFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RIFFBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'riffbot.db'}")
    monkeypatch.setenv("RIFFBOT_DEVICE", "cpu")
    monkeypatch.setenv("RIFFBOT_MODEL", "tiny")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread beats two that contend on a busy box
    yield
    torch.set_num_threads(threads)


def outputs(folder: Path) -> dict[str, Path]:
    """The four files of the one clip written to ``folder``, by kind."""
    records = sorted(folder.glob("*.json"))
    assert len(records) == 1, records
    stem = records[0].with_suffix("")
    files = {
        "json": records[0],
        "mp3": stem.with_suffix(".mp3"),
        "raw": stem.with_suffix(".png"),
        "picture": Path(f"{stem}.picture.png"),
    }
    for path in files.values():
        assert path.stat().st_size > 0, path
    return files


def test_riff_writes_all_four_files_with_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "riff",
            "lofi beat (rhodes:1.2)",
            "--model",
            "tiny",
            "--seed",
            "3",
            *FAST,
            "--out",
            str(out),
            "--negative",
            "harsh",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    files = outputs(out)
    record = json.loads(files["json"].read_text(encoding="utf-8"))
    assert record["request"]["start"] == {
        "prompt": "lofi beat (rhodes:1.2)",
        "seed": 3,
        "strength": 0.75,
        "guidance": 7.0,
    }
    assert record["request"]["negative_prompt"] == "harsh"
    assert record["model"]["id"] == "tiny"
    assert Image.open(files["raw"]).size == (256, 512)
    assert "noise, not music" in captured.out
    assert "3/3" in captured.err  # the progress bar reached the last step
    assert "riff: 3 UNet passes for 3 steps at strength 0.75" in captured.err
    assert "VAE decode and audio" in captured.err
    assert "writing MP3 and PNGs" in captured.err
    assert "Loading pipeline components" not in captured.err  # no library bars beside ours
    assert "Loading weights" not in captured.err
    assert str(files["mp3"]) in captured.out


def test_riff_takes_writes_one_clip_per_take_with_consecutive_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["riff", "dub techno", "--takes", "2", "--seed", "41", *FAST, "--out", str(out)])
    assert code == 0
    records = sorted(out.glob("*.json"))
    seeds = [json.loads(r.read_text(encoding="utf-8"))["request"]["start"]["seed"] for r in records]
    assert seeds == [41, 42]
    mp3s = sorted(out.glob("*.mp3"))
    assert [m.stem for m in mp3s] == ["riff_dub-techno_41", "riff_dub-techno_42"]
    assert all(m.stat().st_size > 0 for m in mp3s)
    printed = capsys.readouterr().out
    assert "seed 41," in printed
    assert printed.count("noise, not music") == 1  # said once, not once a take
    # the set is job 1, its takes jobs 2 and 3, all from the command line
    assert "job #2 in the history" in printed
    assert "job #3 in the history" in printed
    with pytest.raises(SystemExit):
        main(["riff", "dub techno", "--takes", "5", *FAST, "--out", str(out)])

    assert main(["show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "asked by:     the command line" in shown
    assert "made by:      takes" in shown
    assert main(["show", "#3"]) == 0
    shown = capsys.readouterr().out
    assert "seed:         42" in shown
    assert "lineage:      #3 <- #1" in shown
    assert main(["db", "history"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == ["#3", "#2", "#1"]
    assert all(" cli " in line for line in listing)

    again = tmp_path / "again"
    assert main(["replay", "3", "--out", str(again)]) == 0
    assert "job #4 in the history" in capsys.readouterr().out
    replayed = np.asarray(Image.open(again / "riff_dub-techno_42.png"))
    original = np.asarray(Image.open(out / "riff_dub-techno_42.png"))
    # Take 2 was made in a batch of two and is replayed alone: the same request and seed,
    # with float rounding of a different batch size moving a few pixels by one level.
    difference = np.abs(replayed.astype(int) - original)
    assert difference.max() <= 1
    assert difference.mean() < 0.01


def test_blend_transition_and_extend_from_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "blend"
    assert (
        main(["blend", "jazz", "techno", "--clips", "2", "--seed", "5", *FAST, "--out", str(out)])
        == 0
    )
    files = outputs(out)
    assert files["json"].name == "blend_jazz_to_techno_5-6.json"  # both prompts, both seeds
    assert "seeds 5 -> 6," in capsys.readouterr().out
    record = json.loads(files["json"].read_text(encoding="utf-8"))
    assert record["request"]["end"]["seed"] == 6
    assert any("transition of 2 clips" in note for note in record["notes"])
    assert Image.open(files["raw"]).width == 512  # two 256-column clips end to end

    ext = tmp_path / "ext"
    assert main(["extend", str(files["json"]), *FAST, "--out", str(ext)]) == 0
    extended = outputs(ext)
    again = json.loads(extended["json"].read_text(encoding="utf-8"))
    assert again["request"]["mode"] == "extend"
    assert again["request"]["start"]["prompt"] == "jazz"  # taken from the parent's record
    assert Image.open(extended["raw"]).width == 512 + 128


def test_loop_and_remix(tmp_path: Path) -> None:
    assert main(["loop", "drum loop", "--seed", "1", *FAST, "--out", str(tmp_path / "l")]) == 0
    loop = json.loads(outputs(tmp_path / "l")["json"].read_text(encoding="utf-8"))
    assert loop["request"]["mode"] == "loop"

    params = SpectrogramParams()
    t = np.arange(int(2.0 * params.sample_rate)) / params.sample_rate
    wav = write_wav(
        (0.3 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32),
        params.sample_rate,
        tmp_path / "in.wav",
    )
    assert (
        main(
            [
                "remix",
                str(wav),
                "bossa nova",
                "--strength",
                "0.4",
                *FAST,
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    remix = json.loads(outputs(tmp_path / "r")["json"].read_text(encoding="utf-8"))
    assert remix["request"]["start"]["strength"] == 0.4
    assert remix["request"]["seed_image"] == str(wav)


def test_bad_input_and_missing_model_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["riff", "   ", "--out", str(tmp_path)]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    assert main(["riff", "x" * 10_000, "--out", str(tmp_path)]) == 2
    assert "10,000 characters" in capsys.readouterr().err
    missing = tmp_path / "no-model-here"
    assert main(["riff", "beat", "--model", str(missing), "--out", str(tmp_path)]) == 2
    assert "no-model-here" in capsys.readouterr().err
    assert (
        main(["extend", str(tmp_path / "gone.png"), "--prompt", "x", "--out", str(tmp_path)]) == 2
    )
    assert not list(tmp_path.glob("*.mp3"))

    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("a file where the output folder should go")
    assert main(["riff", "beat", "--model", "tiny", *FAST, "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err
    assert f"riffbot: error: the output folder '{not_a_folder}' is a file" in err

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("generation.pipeline.generate_batch", interrupted)
    assert main(["riff", "beat", "--model", "tiny", *FAST, "--out", str(tmp_path / "c")]) == 130
    assert "cancelled" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
