"""Audio <-> mel amplitudes <-> image, bit-compatible with Riffusion's image encoding.

The model was fine-tuned on images made by one exact recipe, so the recipe is reproduced
operation for operation (float32, same order, truncating uint8 cast): a different rounding or
flip would shift every pixel the model draws by a level and change the decoded contrast.

- pixel = uint8(255 - 255 * (S / S_max) ** power): loud is dark, silence is white;
- row 0 is the highest mel band (the image is flipped top-bottom);
- mono images are grey (R = G = B) and decode from the red channel only, because model
  outputs differ slightly between channels and Riffusion reads red;
- stereo images put left in green and right in blue, with red 0;
- parameters travel as EXIF tags 11000..11080, the numbers Riffusion uses, so either tool can
  read the other's files. PNG keeps them only when saved with ``exif=``: use :func:`save_png`.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

from generation.params import SpectrogramParams
from generation.types import InvalidRequest

# Riffusion's EXIF tag numbers (SpectrogramParams.ExifTags in riffusion-hobby).
EXIF_SAMPLE_RATE = 11000
EXIF_STEREO = 11005
EXIF_STEP_SIZE_MS = 11010
EXIF_WINDOW_DURATION_MS = 11020
EXIF_PADDED_DURATION_MS = 11030
EXIF_NUM_FREQUENCIES = 11040
EXIF_MIN_FREQUENCY = 11050
EXIF_MAX_FREQUENCY = 11060
EXIF_POWER_FOR_IMAGE = 11070
EXIF_MAX_VALUE = 11080

DECODE_MAX_VALUE = 30e6
"""Riffusion decodes every image to this peak amplitude; the absolute scale is irrelevant."""


# --- analysis --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def mel_filterbank(params: SpectrogramParams) -> np.ndarray:
    """Riffusion's (n_fft // 2 + 1, n_mels) HTK filterbank, peak 1, no area normalisation."""
    import torchaudio

    fb = torchaudio.functional.melscale_fbanks(
        n_freqs=params.n_fft // 2 + 1,
        f_min=float(params.min_frequency),
        f_max=float(params.max_frequency),
        n_mels=params.num_frequencies,
        sample_rate=params.sample_rate,
        norm=None,
        mel_scale="htk",
    )
    out: np.ndarray = fb.numpy().astype(np.float32)
    out.flags.writeable = False
    return out


def _active_bins(fb: np.ndarray) -> int:
    """Linear bins above the top filter are all zero; skipping them halves the matmul."""
    nonzero = np.flatnonzero(fb.any(axis=1))
    return int(nonzero[-1]) + 1 if nonzero.size else fb.shape[0]


def to_channels(audio: np.ndarray, params: SpectrogramParams) -> np.ndarray:
    """(channels, samples) float32 with the channel count ``params`` asks for.

    Mono input becomes stereo by duplication; extra channels are averaged down (pydub's
    ``set_channels`` does the same for Riffusion).
    """
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidRequest("Audio must be shaped (channels, samples).")
    want = params.channels
    if arr.shape[0] == want:
        return arr
    if want == 1:
        mono: np.ndarray = arr.mean(axis=0, keepdims=True, dtype=np.float32)
        return mono
    if arr.shape[0] == 1:
        return np.repeat(arr, 2, axis=0)
    return np.stack([arr[0::2].mean(axis=0), arr[1::2].mean(axis=0)]).astype(np.float32)


def mel_from_audio(audio: np.ndarray, params: SpectrogramParams) -> np.ndarray:
    """Mel amplitudes (channels, n_mels, frames) of ``audio`` (channels, samples).

    Same analysis as Riffusion: centred STFT with reflect padding, Hann window of
    ``win_length`` zero-padded to ``n_fft``, amplitude (not power), HTK mel projection.
    Frames = 1 + samples // hop.
    """
    import torch

    arr = to_channels(audio, params)
    if arr.shape[1] <= params.n_fft // 2:
        # reflect padding needs more samples than half the FFT size; zero-pad very short input
        arr = np.pad(arr, ((0, 0), (0, params.n_fft // 2 + 1 - arr.shape[1])))
        frames = params.width_for_samples(np.asarray(audio).shape[-1])
    else:
        frames = params.width_for_samples(arr.shape[1])
    window = torch.hann_window(params.win_length)
    spec = torch.stft(
        torch.from_numpy(np.ascontiguousarray(arr)),
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    ).abs()
    fb = mel_filterbank(params)
    k = _active_bins(fb)
    mel = torch.matmul(torch.from_numpy(fb[:k].T.copy()), spec[:, :k, :frames])
    out: np.ndarray = mel.numpy().astype(np.float32)
    return out


# --- image encoding ---------------------------------------------------------------------------


def image_from_mel(mel: np.ndarray, params: SpectrogramParams) -> Image.Image:
    """Riffusion's image for mel amplitudes (channels, n_mels, frames), with EXIF.

    An all-zero input (silence) gives a white image rather than Riffusion's division by zero.
    """
    data = np.asarray(mel, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[0] not in (1, 2) or data.shape[2] == 0:
        raise InvalidRequest("Mel amplitudes must be shaped (1 or 2, n_mels, frames).")
    max_value = float(np.max(data))
    if max_value > 0:
        # the same float32 operations in the same order as riffusion/util/image_util.py
        data = data / np.float32(max_value)
        data = np.power(data, np.float32(params.power_for_image))
        data = data * 255
        data = 255 - data
        pixels = data.astype(np.uint8)
    else:
        pixels = np.full(data.shape, 255, dtype=np.uint8)
    pixels = pixels[:, ::-1, :]  # row 0 = highest frequency
    if pixels.shape[0] == 1:
        rgb = np.repeat(pixels[0][:, :, None], 3, axis=2)
    else:
        rgb = np.stack([np.zeros_like(pixels[0]), pixels[0], pixels[1]], axis=2)
    image = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    exif = image.getexif()
    exif.update(exif_tags(params, stereo=pixels.shape[0] == 2))
    exif[EXIF_MAX_VALUE] = max_value
    return image


def exif_tags(params: SpectrogramParams, *, stereo: bool | None = None) -> dict[int, int | float]:
    """The tags Riffusion writes (``SpectrogramParams.to_exif``), in its types."""
    return {
        EXIF_SAMPLE_RATE: params.sample_rate,
        EXIF_STEREO: int(params.stereo if stereo is None else stereo),
        EXIF_STEP_SIZE_MS: params.step_size_ms,
        EXIF_WINDOW_DURATION_MS: params.window_duration_ms,
        EXIF_PADDED_DURATION_MS: params.padded_duration_ms,
        EXIF_NUM_FREQUENCIES: params.num_frequencies,
        EXIF_MIN_FREQUENCY: params.min_frequency,
        EXIF_MAX_FREQUENCY: params.max_frequency,
        EXIF_POWER_FOR_IMAGE: float(params.power_for_image),
    }


def params_from_image(image: Image.Image) -> SpectrogramParams:
    """Parameters from Riffusion's EXIF tags; missing tags (model outputs) get the defaults."""
    exif = image.getexif()
    base = SpectrogramParams()

    def get_int(tag: int, default: int) -> int:
        value = exif.get(tag)
        try:
            return default if value is None else int(value)
        except (TypeError, ValueError):
            return default

    power = exif.get(EXIF_POWER_FOR_IMAGE)
    try:
        power_value = base.power_for_image if power is None else float(power)
    except (TypeError, ValueError):
        power_value = base.power_for_image
    return SpectrogramParams(
        stereo=bool(get_int(EXIF_STEREO, int(base.stereo))),
        sample_rate=get_int(EXIF_SAMPLE_RATE, base.sample_rate),
        step_size_ms=get_int(EXIF_STEP_SIZE_MS, base.step_size_ms),
        window_duration_ms=get_int(EXIF_WINDOW_DURATION_MS, base.window_duration_ms),
        padded_duration_ms=get_int(EXIF_PADDED_DURATION_MS, base.padded_duration_ms),
        num_frequencies=get_int(EXIF_NUM_FREQUENCIES, base.num_frequencies),
        min_frequency=get_int(EXIF_MIN_FREQUENCY, base.min_frequency),
        max_frequency=get_int(EXIF_MAX_FREQUENCY, base.max_frequency),
        power_for_image=power_value,
    )


def mel_from_image(image: Image.Image, params: SpectrogramParams) -> np.ndarray:
    """Mel amplitudes (channels, n_mels, frames) as Riffusion decodes them (peak 30e6)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    data = np.asarray(image)[::-1].transpose(2, 0, 1)
    data = data[[1, 2]] if params.stereo else data[0:1]
    # the same float32 operations in the same order as riffusion's spectrogram_from_image
    out: np.ndarray = data.astype(np.float32)
    out = 255 - out
    out = out / np.float32(255)
    out = np.power(out, np.float32(1.0 / params.power_for_image))
    out = out * np.float32(DECODE_MAX_VALUE)
    return np.ascontiguousarray(out, dtype=np.float32)


# --- audio reconstruction --------------------------------------------------------------------


def audio_from_mel(
    mel: np.ndarray,
    params: SpectrogramParams,
    *,
    periodic: bool = False,
    device: str | None = None,
) -> np.ndarray:
    """Audio (channels, samples) float32, peak-normalised to 0.99, from mel amplitudes.

    Length is (frames - 1) * hop; with ``periodic`` the phase is reconstructed on a circular
    time axis and the result is frames * hop long, so that it tiles without a seam. ``device``
    (a torch device, e.g. the model's GPU) runs Griffin-Lim there; ``None`` keeps the numpy path.
    """
    from generation.phase import reconstruct

    data = np.asarray(mel, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1] != params.num_frequencies:
        raise InvalidRequest(
            f"Mel amplitudes must be shaped (channels, {params.num_frequencies}, frames)."
        )
    if data.shape[2] < 2:
        raise InvalidRequest("A spectrogram needs at least 2 columns to become audio.")
    if device is not None:
        from generation.phase_torch import reconstruct_torch

        return reconstruct_torch(data, params, periodic=periodic, device=device)
    return reconstruct(data, params, periodic=periodic)


def image_from_audio(audio: np.ndarray, params: SpectrogramParams) -> Image.Image:
    return image_from_mel(mel_from_audio(audio, params), params)


def audio_from_image(
    image: Image.Image,
    params: SpectrogramParams,
    *,
    periodic: bool = False,
    device: str | None = None,
) -> np.ndarray:
    return audio_from_mel(mel_from_image(image, params), params, periodic=periodic, device=device)


# --- files ------------------------------------------------------------------------------------


PNG_COMPRESS_LEVEL = 3
"""zlib level 3, not PIL's 6: measured on a clip's raw image and its picture, a third of the
time (13 ms against 32 ms each) for files within 10 % of the size (155 KB against 157 KB)."""


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes that keep the EXIF parameters (plain ``save`` drops them)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", exif=image.getexif(), compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write ``image`` as PNG with its EXIF parameters; returns the path."""
    out = Path(path)
    out.write_bytes(png_bytes(image))
    return out


def open_image(path: str | Path) -> Image.Image:
    """Load a spectrogram image fully into memory, with a clear error for bad files."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy() if im.mode == "RGB" else _keep_exif(im)
    except FileNotFoundError as exc:
        raise InvalidRequest(f"No such image file: {path}") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(f"Could not read {Path(path).name} as an image.") from exc


def _keep_exif(im: Image.Image) -> Image.Image:
    exif = im.getexif()
    out = im.convert("RGB")
    out.getexif().update(dict(exif))
    return out
