"""The post stage on plain data: what the model's thread hands over becomes a finished clip."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from generation import codec
from generation.outputs import write_outputs
from generation.params import SpectrogramParams
from generation.post import Decoded, Finish, post_process
from generation.seeds import SEED_DIR
from generation.types import Endpoint, GenerationRequest, Mode

PARAMS = SpectrogramParams()


def decoded(mode: Mode, *, device: str | None = None) -> Decoded:
    image = codec.open_image(SEED_DIR / "og_beat.png").crop((0, 0, 128, 512))
    return Decoded(
        request=GenerationRequest(mode=mode, start=Endpoint("beat", 1)),
        images=[image],
        finish=Finish("single", periodic=mode is Mode.LOOP),
        params=PARAMS,
        timings={"vae_decode": 0.5},
        notes=("a note",),
        model_id="tiny",
        model_revision=None,
        latent=np.zeros((4, 64, 16), dtype=np.float32),
        phase_device=device,
        extra={"denoise": 2.0, "batch_size": 1.0},
    )


def test_a_riff_gets_audio_a_picture_and_its_timings(tmp_path: Path) -> None:
    # what crosses to a worker process must survive pickling unchanged
    result = post_process(pickle.loads(pickle.dumps(decoded(Mode.RIFF))))
    assert result.audio.shape == (1, 127 * PARAMS.hop_length)
    assert result.picture is not None
    assert result.picture.width > 128
    assert result.timings["total"] == pytest.approx(
        0.5 + 2.0 + result.timings["audio"] + result.timings["picture"]
    )
    files = write_outputs(result, tmp_path, "riff")
    assert files.picture_png is not None
    assert files.picture_png.stat().st_size > 1000


def test_radio_clips_get_no_readable_picture(tmp_path: Path) -> None:
    result = post_process(decoded(Mode.RADIO))
    assert result.picture is None
    assert result.timings["picture"] == 0.0
    files = write_outputs(result, tmp_path, "radio")
    assert files.picture_png is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radio.json", "radio.mp3", "radio.png"]


def test_the_torch_phase_device_reaches_the_codec() -> None:
    on_torch = post_process(decoded(Mode.LOOP, device="cpu"))
    on_numpy = post_process(decoded(Mode.LOOP))
    assert on_torch.audio.shape == on_numpy.audio.shape == (1, 128 * PARAMS.hop_length)
    assert not np.array_equal(on_torch.audio, on_numpy.audio)  # another path ran...
    assert np.abs(on_torch.audio - on_numpy.audio).max() < 0.05  # ...to the same sound
