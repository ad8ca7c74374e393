"""Seed images: two-bar drum/bass loops that fix tempo and bar grid for img2img.

Riffusion's model works best when it repaints a "seed" spectrogram rather than drawing from
noise; Riffusion never published how its seeds were made, so ours are synthesized here with
numpy (``generation.synth``): 2 bars of 4/4 at 93.75 BPM, exactly 512 columns (5.12 s).
The PNGs under ``seed_images/`` are the output of :func:`write_seed_images` and a test checks
they still match, so the shipped files can always be rebuilt from code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from generation import synth
from generation.params import SpectrogramParams
from generation.types import InvalidRequest

SEED_DIR = Path(__file__).with_name("seed_images")
SEED_COLUMNS = 512
DEFAULT_SEED = "og_beat"


@dataclass(frozen=True)
class _Recipe:
    drums: str  # sixteenth-note steps, see synth.drum_pattern
    bass: tuple[int, ...]  # MIDI notes, eighth notes
    bass_gain: float = 1.0


_RECIPES: dict[str, _Recipe] = {
    "og_beat": _Recipe("X.H.S.H.X.HXS.H.", (45, 45, 57, 45, 43, 43, 55, 43), 1.0),
    "four_on_floor": _Recipe("K.H.K.H.K.H.K.HO", (41, 41, 53, 41, 41, 53, 41, 48), 0.9),
    "half_time": _Recipe("X..HH.HHS..HH.H.X.XHH.HHS..HHHHO", (38, 38, 38, 45, 36, 36, 36, 43), 1.1),
    "breakbeat": _Recipe("K.H.S.HKH.KHS.HS", (40, 52, 40, 47, 40, 52, 43, 45), 0.8),
}

SEED_IMAGE_NAMES: tuple[str, ...] = tuple(_RECIPES)


def _recipe(name: str) -> _Recipe:
    try:
        return _RECIPES[name]
    except KeyError:
        raise InvalidRequest(
            f"Unknown seed image {name!r}; choose one of: {', '.join(SEED_IMAGE_NAMES)}."
        ) from None


def _bar_seconds() -> float:
    return 4 * synth.beat_seconds(synth.BPM)


def synthesize_seed_audio(name: str, params: SpectrogramParams) -> np.ndarray:
    """Four bars of the named loop (channels, samples); the seed image is bars 2-3.

    Rendering more than the two bars means the image's first columns hear the previous bar's
    ringing tails, as a loop cut from a real track would.
    """
    recipe = _recipe(name)
    rate = params.sample_rate
    seconds = 4 * _bar_seconds()
    seed = SEED_IMAGE_NAMES.index(name)
    mix = synth.drum_pattern(recipe.drums, seconds, sample_rate=rate, seed=seed)
    mix = mix + recipe.bass_gain * synth.bass_line(list(recipe.bass), seconds, sample_rate=rate)
    mix = 0.5 * mix / float(np.max(np.abs(mix)))
    mono = mix.astype(np.float32)[None, :]
    return np.repeat(mono, params.channels, axis=0)


def _render(name: str, params: SpectrogramParams) -> Image.Image:
    from generation import codec

    audio = synthesize_seed_audio(name, params)
    start = round(_bar_seconds() * params.sample_rate / params.hop_length)
    mel = codec.mel_from_audio(audio, params)[:, :, start : start + SEED_COLUMNS]
    return codec.image_from_mel(mel, params)


def write_seed_images(directory: Path = SEED_DIR) -> list[Path]:
    """Regenerate the shipped PNGs (run after changing a recipe; a test compares them)."""
    from generation.codec import save_png

    directory.mkdir(parents=True, exist_ok=True)
    params = SpectrogramParams()
    return [save_png(_render(n, params), directory / f"{n}.png") for n in SEED_IMAGE_NAMES]


def seed_image(name: str) -> Image.Image:
    """The shipped seed image ``name`` (RGB, 512x512, with Riffusion EXIF)."""
    from generation.codec import open_image

    _recipe(name)
    return open_image(SEED_DIR / f"{name}.png")


def fit_columns(image: Image.Image, columns: int = SEED_COLUMNS) -> Image.Image:
    """Crop a wider image, or repeat a narrower one end to end, to exactly ``columns``."""
    exif = dict(image.getexif())
    if image.width == columns:
        return image
    if image.width > columns:
        out = image.crop((0, 0, columns, image.height))
    else:
        out = Image.new(image.mode, (columns, image.height))
        for x in range(0, columns, image.width):
            out.paste(image, (x, 0))
    out.getexif().update(exif)
    return out


def load_seed(
    spec: str, params: SpectrogramParams, *, max_seconds: float, columns: int = SEED_COLUMNS
) -> Image.Image:
    """A seed image from a shipped name, a PNG spectrogram, or any audio file ffmpeg reads.

    Images must have ``params.num_frequencies`` rows; audio is encoded with ``params``. Both
    are cropped or looped to ``columns`` columns.
    """
    from generation import codec
    from generation.audio import fit_length, load_audio

    if spec in _RECIPES:
        return fit_columns(seed_image(spec), columns)
    path = Path(spec)
    if not path.is_file():
        raise InvalidRequest(
            f"Seed {spec!r} is neither a seed image name ({', '.join(SEED_IMAGE_NAMES)}) "
            "nor an existing file."
        )
    if _looks_like_image(path):
        image = codec.open_image(path)
        if image.height != params.num_frequencies:
            hint = ""
            if _is_coloured(path):
                hint = (
                    " It looks like the readable picture (colours and axes) that Riffbot posts;"
                    " seed from the raw spectrogram instead: the post's Spectrogram button sends"
                    " it, or give the job's id as the seed image, like #12."
                )
            raise InvalidRequest(
                f"{path.name} is {image.height} pixels tall; a spectrogram image has "
                f"{params.num_frequencies} rows.{hint}"
            )
        return fit_columns(image, columns)
    audio = load_audio(path, params.sample_rate, max_seconds=max_seconds, channels=params.channels)
    audio = fit_length(audio, params.samples_for_width(columns))
    return codec.image_from_audio(audio, params)


def _is_coloured(path: Path) -> bool:
    """A raw spectrogram is grey (R = G = B, or red alone); the readable picture is not."""
    with Image.open(path) as opened:
        rgb = np.asarray(opened.convert("RGB"), dtype=np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 4)


def _looks_like_image(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(8)
    return head.startswith(b"\x89PNG") or head[:2] == b"\xff\xd8" or head[:4] == b"GIF8"


if __name__ == "__main__":
    for written in write_seed_images():
        print(written)
