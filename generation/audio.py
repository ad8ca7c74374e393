"""Audio plumbing: crossfades, seams, and files in and out (via imageio-ffmpeg).

Pure functions on float32 arrays shaped (channels, samples) in [-1, 1]. Loudness (the one
finishing policy) lives in :mod:`generation.loudness`.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from generation.types import InvalidRequest

SILENCE_DBFS = -70.0
"""Input whose peak is below this is treated as silent (nothing to encode)."""


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms_dbfs(audio: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _as_2d(audio: np.ndarray) -> np.ndarray:
    arr = np.asarray(audio, dtype=np.float32)
    return arr[None, :] if arr.ndim == 1 else arr


# --- crossfades and seams ------------------------------------------------------------------


def equal_power_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) of length n with fade_out**2 + fade_in**2 == 1 at every sample.

    Equal power keeps the loudness constant through a fade between unrelated material, where
    a linear fade dips by 3 dB in the middle.
    """
    t = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    return np.cos(0.5 * np.pi * t).astype(np.float32), np.sin(0.5 * np.pi * t).astype(np.float32)


def crossfade(a: np.ndarray, b: np.ndarray, fade_samples: int) -> np.ndarray:
    """``a`` then ``b``, overlapping by ``fade_samples`` with an equal-power fade."""
    x, y = _as_2d(a), _as_2d(b)
    if x.shape[0] != y.shape[0]:
        raise ValueError("clips must have the same number of channels")
    n = max(0, min(fade_samples, x.shape[1], y.shape[1]))
    if n == 0:
        return np.concatenate([x, y], axis=1)
    fade_out, fade_in = equal_power_fades(n)
    middle = x[:, -n:] * fade_out + y[:, :n] * fade_in
    return np.concatenate([x[:, :-n], middle, y[:, n:]], axis=1).astype(np.float32)


def crossfade_join(clips: Sequence[np.ndarray], fade_samples: int) -> np.ndarray:
    """Join clips end to end, each overlap an equal-power crossfade: no clicks at the joins.

    The result is ``sum(lengths) - (len(clips) - 1) * fade`` samples long (shorter clips
    shorten their own fades).
    """
    if not clips:
        raise ValueError("nothing to join")
    out = _as_2d(clips[0])
    for clip in clips[1:]:
        out = crossfade(out, clip, fade_samples)
    return out


def loop_crossfade(audio: np.ndarray, fade_samples: int) -> np.ndarray:
    """Make a clip loop seamlessly: its tail is crossfaded into its head.

    The result is ``fade_samples`` shorter; played end to end it has no jump at the wrap.
    """
    arr = _as_2d(audio)
    n = max(0, min(fade_samples, arr.shape[1] // 2))
    if n == 0:
        return arr.copy()
    fade_out, fade_in = equal_power_fades(n)
    head = arr[:, -n:] * fade_out + arr[:, :n] * fade_in
    return np.concatenate([head, arr[:, n:-n]], axis=1).astype(np.float32)


def seam_ratio(audio: np.ndarray, at: int = 0) -> float:
    """How abrupt the join into sample ``at`` is, relative to the signal's own abrupt moments.

    A click is a sample that leaves the line the previous two samples were on. We take the
    second differences x[n] - 2 x[n-1] + x[n-2] that straddle the join (``at`` = 0 means the
    wrap from the last sample to the first, i.e. a loop) and divide the larger by the 99th
    percentile of |second difference| over the whole signal, worst channel. Values <= 1: the
    join is no more abrupt than the music is one sample in a hundred; a click gives 2 and more.
    (Second rather than first differences, because a cut can land on two equal values by
    chance and still break the waveform's slope.)
    """
    arr = _as_2d(audio).astype(np.float64)
    n = arr.shape[1]
    if n < 4:
        raise ValueError("signal too short to judge a seam")
    wrapped = np.concatenate([arr[:, -2:], arr], axis=1)
    curvature = np.abs(wrapped[:, 2:] - 2.0 * wrapped[:, 1:-1] + wrapped[:, :-2])  # index = n
    typical = np.percentile(curvature, 99, axis=1)
    at = at % n
    jump = np.maximum(curvature[:, at], curvature[:, (at + 1) % n])
    return float((jump / np.maximum(typical, 1e-12)).max())


# --- sample-rate and format conversion ----------------------------------------------------


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return _as_2d(audio).copy()
    from scipy.signal import resample_poly

    ratio = Fraction(to_rate, from_rate)
    out = resample_poly(_as_2d(audio), ratio.numerator, ratio.denominator, axis=1)
    return np.asarray(out, dtype=np.float32)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """(channels, samples) float -> interleaved-ready (samples, channels) int16, clipped safely."""
    arr = np.clip(_as_2d(audio), -1.0, 1.0)
    pcm: np.ndarray = np.round(arr.T * 32767.0).astype(np.int16)
    return pcm


def write_wav(audio: np.ndarray, sample_rate: int, path: str | Path) -> Path:
    from scipy.io import wavfile

    out = Path(path)
    wavfile.write(out, sample_rate, to_int16(audio))
    return out


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def export_mp3(
    audio: np.ndarray, sample_rate: int, path: str | Path, *, bitrate: str = "128k"
) -> Path:
    """Encode to MP3 through pydub with the imageio-ffmpeg binary (no system ffmpeg needed)."""
    import warnings

    with warnings.catch_warnings():
        # pydub looks for a system ffmpeg at import and warns; we point it at ours below
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()
    pcm = to_int16(audio)
    segment = AudioSegment(
        pcm.tobytes(), frame_rate=sample_rate, sample_width=2, channels=pcm.shape[1]
    )
    out = Path(path)
    segment.export(out, format="mp3", bitrate=bitrate).close()
    return out


def mp3_bytes(audio: np.ndarray, sample_rate: int, *, bitrate: str = "128k") -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return export_mp3(audio, sample_rate, Path(tmp) / "clip.mp3", bitrate=bitrate).read_bytes()


def load_audio(
    path: str | Path,
    sample_rate: int,
    *,
    max_seconds: float,
    channels: int = 1,
) -> np.ndarray:
    """Decode any file ffmpeg reads to float32 (channels, samples) at ``sample_rate``.

    Raises :class:`InvalidRequest` with a sentence a person can act on for a missing,
    unreadable, empty, too long or silent file. Decoding stops just past ``max_seconds``, so a
    huge upload costs no more than the limit.
    """
    src = Path(path)
    if not src.is_file():
        raise InvalidRequest(f"No such audio file: {src.name}")
    if src.stat().st_size == 0:
        raise InvalidRequest(f"{src.name} is empty.")
    decoded = min(2, source_channels(src))
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(src),
        "-t",
        f"{max_seconds + 0.05:.3f}",
        "-map",
        "0:a:0",  # the stream source_channels and bot.media's probe look at
        "-ac",
        str(decoded),
        "-ar",
        str(sample_rate),
        "-f",
        "f32le",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise InvalidRequest(f"Could not read {src.name} as audio (is it a sound file?).")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    frames = data.size // decoded
    if frames == 0:
        raise InvalidRequest(f"{src.name} has no audio in it.")
    audio = to_channel_count(data[: frames * decoded].reshape(frames, decoded).T, channels)
    if frames > max_seconds * sample_rate + 1:
        raise InvalidRequest(
            f"{src.name} is longer than the {max_seconds:g} s limit; trim it and try again."
        )
    if peak_dbfs(audio) < SILENCE_DBFS:
        raise InvalidRequest(f"{src.name} is silent; there is nothing to turn into music.")
    return np.ascontiguousarray(audio)


def source_channels(path: Path) -> int:
    """Channels of the first audio stream (PyAV reads the header with ffmpeg's demuxers).

    Needed because ffmpeg's own channel conversion is not the one we want in either direction:
    ``-ac 1`` sums 0.7071 * (L + R), which clips correlated stereo (L = R = 0.9 gives 1.27),
    and mono -> stereo puts 0.7071 of the mono signal on each side.
    """
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise InvalidRequest(f"{path.name} has no audio in it.")
            return max(1, int(streams[0].channels))
    except av.FFmpegError as error:
        message = f"Could not read {path.name} as audio (is it a sound file?)."
        raise InvalidRequest(message) from error


def to_channel_count(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono or stereo (C, samples) -> ``channels``: stereo to mono is 0.5 * (L + R), as
    Riffusion and ``codec.to_channels`` do (never clips); mono to stereo duplicates."""
    arr = np.asarray(audio, dtype=np.float32)
    if channels not in (1, 2):
        raise InvalidRequest(f"Audio can be read as mono or stereo, not {channels} channels.")
    if arr.shape[0] == channels:
        return arr
    if channels == 2:
        return np.repeat(arr[:1], 2, axis=0)
    mono: np.ndarray = (0.5 * (arr[0:1] + arr[1:2])).astype(np.float32)
    return mono


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Crop, or repeat end to end, to exactly ``samples`` (short loops are looped, not padded)."""
    arr = _as_2d(audio)
    if arr.shape[1] == 0:
        raise InvalidRequest("No audio to fit.")
    reps = -(-samples // arr.shape[1])
    return np.tile(arr, (1, reps))[:, :samples].copy() if reps > 1 else arr[:, :samples].copy()
