"""Seed images: shipped, rebuildable from code, and loadable from names, PNGs and audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation import codec, seeds
from generation.audio import write_wav
from generation.params import SpectrogramParams
from generation.picture import render_picture
from generation.synth import music_clip
from generation.types import InvalidRequest

PARAMS = SpectrogramParams()


def test_og_beat_is_shipped_and_is_the_default() -> None:
    assert "og_beat" in seeds.SEED_IMAGE_NAMES
    assert seeds.DEFAULT_SEED == "og_beat"
    assert len(seeds.SEED_IMAGE_NAMES) >= 3


@pytest.mark.parametrize("name", seeds.SEED_IMAGE_NAMES)
def test_shipped_png_is_what_the_synthesizer_makes(name: str) -> None:
    shipped = seeds.seed_image(name)
    assert shipped.size == (512, 512)
    assert codec.params_from_image(shipped) == PARAMS
    rebuilt = np.asarray(seeds._render(name, PARAMS)).astype(int)
    diff = np.abs(np.asarray(shipped).astype(int) - rebuilt)
    # identical up to float rounding of another BLAS landing on the other side of a truncation
    assert diff.max() <= 1
    assert (diff == 0).mean() > 0.999


def test_seed_audio_is_two_bars_at_93_75_bpm_per_image() -> None:
    audio = seeds.synthesize_seed_audio("og_beat", PARAMS)
    assert audio.shape == (1, 2 * 225_792)  # four bars: 10.24 s, twice an image
    # one bar of 4/4 at 93.75 BPM is 2.56 s = 256 columns: the beat repeats exactly there
    mel = codec.mel_from_audio(audio, PARAMS)[0]
    envelope = mel.sum(axis=0)

    def corr(lag: int) -> float:
        return float(np.corrcoef(envelope[:-lag], envelope[lag:])[0, 1])

    assert corr(256) > 0.99
    assert corr(256) > corr(250) + 0.2


def test_seed_images_differ_from_each_other() -> None:
    arrays = [np.asarray(seeds.seed_image(n)) for n in seeds.SEED_IMAGE_NAMES]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i].astype(int) - arrays[j]).mean() > 5


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidRequest, match="og_beat") as info:
        seeds.seed_image("nope")
    assert all(name in str(info.value) for name in seeds.SEED_IMAGE_NAMES)
    with pytest.raises(InvalidRequest, match="og_beat"):
        seeds.load_seed("no_such_seed", PARAMS, max_seconds=10)


def test_load_seed_by_name() -> None:
    image = seeds.load_seed("half_time", PARAMS, max_seconds=10)
    assert np.array_equal(np.asarray(image), np.asarray(seeds.seed_image("half_time")))


def test_load_seed_from_png_crops_or_loops_to_512_columns(tmp_path: Path) -> None:
    wide = np.random.default_rng(0).integers(0, 255, (512, 700, 3), dtype=np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    image = seeds.load_seed(str(tmp_path / "wide.png"), PARAMS, max_seconds=10)
    assert np.array_equal(np.asarray(image), wide[:, :512])

    narrow = wide[:, :200]
    Image.fromarray(narrow).save(tmp_path / "narrow.png")
    looped = np.asarray(seeds.load_seed(str(tmp_path / "narrow.png"), PARAMS, max_seconds=10))
    assert looped.shape == (512, 512, 3)
    assert np.array_equal(looped[:, 200:400], narrow)


def test_load_seed_from_audio_encodes_512_columns(tmp_path: Path) -> None:
    path = write_wav(music_clip(2, seconds=2.0), PARAMS.sample_rate, tmp_path / "short.wav")
    image = seeds.load_seed(str(path), PARAMS, max_seconds=10)
    assert image.size == (512, 512)
    assert codec.params_from_image(image) == PARAMS


def test_seeding_from_the_readable_picture_gets_a_hint_to_use_the_raw_image(
    tmp_path: Path,
) -> None:
    readable = render_picture(seeds.seed_image("og_beat"), PARAMS, title="og_beat")
    readable.save(tmp_path / "riff-12.png")
    with pytest.raises(InvalidRequest, match=r"readable picture.*Spectrogram button.*#12"):
        seeds.load_seed(str(tmp_path / "riff-12.png"), PARAMS, max_seconds=10)
    Image.new("L", (512, 100), 128).save(tmp_path / "grey.png")
    with pytest.raises(InvalidRequest, match=r"512 rows\.$"):  # grey: no hint
        seeds.load_seed(str(tmp_path / "grey.png"), PARAMS, max_seconds=10)


def test_load_seed_rejects_wrong_height_and_bad_audio(tmp_path: Path) -> None:
    Image.new("RGB", (512, 100)).save(tmp_path / "short.png")
    with pytest.raises(InvalidRequest, match="100 pixels tall"):
        seeds.load_seed(str(tmp_path / "short.png"), PARAMS, max_seconds=10)
    (tmp_path / "noise.ogg").write_bytes(b"nothing to hear here" * 10)
    with pytest.raises(InvalidRequest, match="Could not read"):
        seeds.load_seed(str(tmp_path / "noise.ogg"), PARAMS, max_seconds=10)
