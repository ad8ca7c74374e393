"""The one loudness policy for everything that leaves the program (clips, loops, the radio).

Loudness is ITU-R BS.1770-4 integrated loudness (LUFS, gated, K-weighted) measured by
``pyloudnorm``; the peak is the true peak (dBTP): the signal upsampled 4x by a polyphase
filter, as BS.1770 Annex 2 describes, so inter-sample overs that a DAC or an MP3 decoder
would produce are counted. The steps:

1. gain to the target (-14 LUFS by default, the streaming convention);
2. a look-ahead true-peak limiter takes off what is over the ceiling, within a budget: at
   most ``max_reduction_db`` deep and ``max_taken_db`` overall;
3. where the target needs more than that budget, the gain is lowered instead: the clip stays
   quieter rather than being squashed (limiting 4-8 dB off dense or percussive material
   audibly softens its transients and doubles its spectral convergence to the image).

Pure functions on float32 (channels, samples) arrays; nothing here hard-clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SILENT_LUFS = -70.0
"""BS.1770's absolute gate: anything quieter is silence and is left alone."""


@dataclass(frozen=True)
class LoudnessPolicy:
    """What "finished" means. ``release_ms``: after a peak the limiter recovers its whole
    budget over 30 ms (tens of ms: much shorter and the gain follows the cycles of low notes,
    which is distortion; longer ducks the notes after a transient, and the benchmark's
    spectral convergence shows that costs more than the ripple). ``lookahead_ms``: the gain
    starts falling this long before a peak, so the peak itself is never cut (no clipping).
    ``max_taken_db``: what the limiter may remove overall, relative to the signal (-30 dB:
    3 % of its amplitude)."""

    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    max_reduction_db: float = 3.0
    max_taken_db: float = -30.0
    release_ms: float = 30.0
    lookahead_ms: float = 2.0
    max_gain_db: float = 30.0
    oversample: int = 4


@dataclass(frozen=True)
class FinishReport:
    """What finishing did: loudness before and after, the gain, the limiter's largest cut;
    ``budget_bound``: the target needed more than the limiter budget, so the clip stays
    quieter (or the gain cap held a near-silent clip back)."""

    input_lufs: float
    output_lufs: float
    gain_db: float
    reduction_db: float
    true_peak_dbtp: float
    budget_bound: bool = False


def _as_2d(audio: np.ndarray) -> np.ndarray:
    arr = np.asarray(audio, dtype=np.float32)
    return arr[None, :] if arr.ndim == 1 else arr


def integrated_loudness(audio: np.ndarray, sample_rate: int, *, periodic: bool = False) -> float:
    """BS.1770-4 integrated loudness in LUFS (-inf for silence).

    Mono is measured as dual mono (ffmpeg ebur128's ``dualmono``), i.e. as it is heard: a
    mono MP3 plays on both ears, and the radio duplicates mono clips to stereo, so the clips
    and the radio come out equally loud. BS.1770 measures 400 ms blocks; a shorter signal is
    repeated to one block (a short clip is looped when played anyway). ``periodic`` (loops)
    measures the loop played twice, so blocks straddling the loop point count like any other.
    """
    import pyloudnorm

    arr = _as_2d(audio).astype(np.float64)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 2, axis=0)
    if arr.shape[1] == 0 or not np.any(arr):
        return -math.inf
    block = int(0.4 * sample_rate) + 1
    reps = max(2 if periodic else 1, -(-block // arr.shape[1]))
    if reps > 1:
        arr = np.tile(arr, (1, reps))
    meter = pyloudnorm.Meter(sample_rate)
    value = float(meter.integrated_loudness(arr.T))
    return value if math.isfinite(value) and value > SILENT_LUFS else -math.inf


def _upsampled(arr: np.ndarray, factor: int, periodic: bool) -> np.ndarray:
    """(C, N * factor) polyphase-upsampled signal; ``periodic`` pads by wrapping around."""
    from scipy.signal import resample_poly

    pad = 32
    if periodic and arr.shape[1] > pad:
        padded = np.concatenate([arr[:, -pad:], arr, arr[:, :pad]], axis=1)
    else:
        padded = np.pad(arr, ((0, 0), (pad, pad)))
    # float32: 24 bits of mantissa are far below the 0.01 dB a peak reading needs, at half
    # the cost of float64
    up = resample_poly(padded.astype(np.float32), factor, 1, axis=1)
    result: np.ndarray = up[:, pad * factor : (pad + arr.shape[1]) * factor]
    return result


def true_peak_envelope(
    audio: np.ndarray, *, oversample: int = 4, periodic: bool = False
) -> np.ndarray:
    """Per input sample, the largest |value| of the 4x upsampled signal around it (all
    channels): what the limiter must bring under the ceiling."""
    arr = _as_2d(audio)
    up = np.abs(_upsampled(arr, oversample, periodic)).max(axis=0)
    per_sample = up.reshape(arr.shape[1], oversample).max(axis=1)
    envelope: np.ndarray = np.maximum(per_sample, np.abs(arr).max(axis=0))
    return envelope


def true_peak_dbtp(audio: np.ndarray, *, oversample: int = 4, periodic: bool = False) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2: 4x oversampling at 44.1/48 kHz)."""
    arr = _as_2d(audio)
    if arr.size == 0:
        return -math.inf
    peak = float(true_peak_envelope(arr, oversample=oversample, periodic=periodic).max())
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def limiter_reduction_db(
    envelope: np.ndarray,
    sample_rate: int,
    ceiling_dbtp: float,
    *,
    lookahead_ms: float,
    release_ms: float,
    budget_db: float,
    periodic: bool = False,
) -> np.ndarray:
    """Gain reduction (dB, >= 0) per sample that keeps ``envelope`` under the ceiling.

    Three vectorised steps, each keeping reduction >= required at every sample:
    release: r[n] = max over k <= n of (req[k] - (n - k) * slope), a linear-in-dB recovery of
    ``budget_db`` per ``release_ms`` (a running maximum of req[k] + k * slope); look-ahead:
    the maximum over [n, n + L] then the mean over [n - L, n], whose every window contains n,
    so the gain glides down over L samples before a peak instead of stepping. ``periodic``
    runs the release over two periods so the curve wraps without a step at the loop point.
    """
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    level = np.maximum(envelope.astype(np.float64), 1e-12)
    required = np.maximum(0.0, 20.0 * np.log10(level) - ceiling_dbtp)
    n = required.size
    if n == 0 or not np.any(required > 0):
        return np.zeros(n)
    mode = "wrap" if periodic else "nearest"
    slope = max(budget_db, 1e-3) / max(1.0, release_ms * 1e-3 * sample_rate)
    source = np.tile(required, 2) if periodic else required
    ramp = np.arange(source.size, dtype=np.float64) * slope
    released = np.maximum.accumulate(source + ramp) - ramp
    released = released[n:] if periodic else released
    span = 2 * max(1, int(lookahead_ms * 1e-3 * sample_rate) // 2) + 1  # odd: L = span - 1
    # maximum over [n, n + L]: origin shifts the window forward; mean over [n - L, n]: back
    ahead = maximum_filter1d(released, span, mode=mode, origin=-(span // 2))
    reduction: np.ndarray = uniform_filter1d(ahead, span, mode=mode, origin=span // 2)
    safe: np.ndarray = np.maximum(reduction, required)  # float rounding only
    return safe


def _limiter_gain(
    envelope: np.ndarray, gain: float, sample_rate: int, policy: LoudnessPolicy, periodic: bool
) -> np.ndarray:
    """The limiter's cut in dB per sample once the signal is gained by ``gain`` dB."""
    return limiter_reduction_db(
        envelope * 10.0 ** (gain / 20.0),
        sample_rate,
        policy.ceiling_dbtp,
        lookahead_ms=policy.lookahead_ms,
        release_ms=policy.release_ms,
        budget_db=policy.max_reduction_db,
        periodic=periodic,
    )


def _taken_db(arr: np.ndarray, cut: np.ndarray) -> float:
    """What a cut takes away, in dB relative to the signal: 20 log10(||x (1 - g)|| / ||x||)."""
    if not np.any(cut > 0):
        return -math.inf
    limiter = (10.0 ** (-cut / 20.0)).astype(np.float32)
    taken = float(np.linalg.norm(arr * (1.0 - limiter)[None, :]))
    whole = float(np.linalg.norm(arr))
    return 20.0 * math.log10(taken / whole) if taken > 0 and whole > 0 else -math.inf


def _apply(arr: np.ndarray, gain: float, cut: np.ndarray) -> np.ndarray:
    gains = (10.0 ** ((gain - cut) / 20.0)).astype(np.float32)
    out: np.ndarray = arr * gains[None, :]
    return out


def finish(
    audio: np.ndarray,
    sample_rate: int,
    policy: LoudnessPolicy | None = None,
    *,
    periodic: bool = False,
    gain_db: float | None = None,
) -> tuple[np.ndarray, FinishReport]:
    """``audio`` at the policy's loudness, its true peak under the ceiling, and what was done.

    The limiter's budget is two bounds: its deepest cut (``max_reduction_db``) and what it
    takes away overall (``max_taken_db`` below the signal: a cut that lasts, on the loudest
    notes of a pad, changes the sound far more than the same cut on a drum hit). Where the
    target needs more, the gain is lowered until both hold, found by bisection.
    ``gain_db`` overrides the gain toward the target (the radio moves its gain slowly); it
    is still lowered where the budget would not suffice. ``periodic`` (loops): the
    measurement and the limiter wrap around, so a loop played end to end has no step.
    """
    policy = policy or LoudnessPolicy()
    arr = _as_2d(audio)
    before = integrated_loudness(arr, sample_rate, periodic=periodic)
    if not math.isfinite(before):
        silent = FinishReport(before, before, 0.0, 0.0, true_peak_dbtp(arr), budget_bound=True)
        return arr.copy(), silent
    envelope = true_peak_envelope(arr, oversample=policy.oversample, periodic=periodic)
    peak_db = 20.0 * math.log10(float(envelope.max()))
    free = policy.ceiling_dbtp - peak_db  # the most gain that needs no limiting at all
    cap = min(policy.max_gain_db, free + policy.max_reduction_db)
    held = False  # the budget or the gain cap kept the gain below what was asked

    def reach(start: float, goal: float) -> tuple[float, np.ndarray]:
        """The largest gain in [start, goal] within the budget (``start`` is), and its cut.

        Searched only as far as the gain asked for, so a clip that needs no limiting, or
        less than its budget, costs one limiter pass instead of a bisection of the budget.
        """
        nonlocal held
        if goal > cap:
            goal, held = cap, True
        cut = _limiter_gain(envelope, goal, sample_rate, policy, periodic)
        if goal <= free or _taken_db(arr, cut) <= policy.max_taken_db:
            return goal, cut
        held = True
        low, high = start, goal
        low_cut = None
        for _ in range(8):  # 3 dB / 2**8: about 0.01 dB
            middle = 0.5 * (low + high)
            trial = _limiter_gain(envelope, middle, sample_rate, policy, periodic)
            if _taken_db(arr, trial) <= policy.max_taken_db:
                low, low_cut = middle, trial
            else:
                high = middle
        if low_cut is None:  # every trial was over: the start itself
            low_cut = _limiter_gain(envelope, low, sample_rate, policy, periodic)
        return low, low_cut

    wanted = policy.target_lufs - before if gain_db is None else gain_db
    gain, cut = reach(min(free, wanted), wanted)
    out = _apply(arr, gain, cut)
    measured: float | None = None
    # The limiter lowers the loudness a little on dense material: correct for it within the
    # budget, twice at most (each pass measures again).
    for _ in range(2):
        if gain_db is not None or held:
            break
        measured = integrated_loudness(out, sample_rate, periodic=periodic)
        short = policy.target_lufs - measured
        if short < 0.1:
            break
        gain, cut = reach(gain, gain + short)
        out, measured = _apply(arr, gain, cut), None
    reduction = float(cut.max()) if cut.size else 0.0
    # the gain curve varies within the interpolation filter's reach: trim any rounding over
    peak = true_peak_dbtp(out, oversample=policy.oversample, periodic=periodic)
    if peak > policy.ceiling_dbtp:
        out = out * np.float32(10.0 ** ((policy.ceiling_dbtp - peak) / 20.0))
        peak, measured = true_peak_dbtp(out, oversample=policy.oversample, periodic=periodic), None
    finished = np.ascontiguousarray(out, dtype=np.float32)
    output = (
        measured
        if measured is not None
        else integrated_loudness(finished, sample_rate, periodic=periodic)
    )
    short_of = gain < wanted - 0.05 if gain_db is not None else output < policy.target_lufs - 0.1
    report = FinishReport(
        input_lufs=before,
        output_lufs=output,
        gain_db=gain,
        reduction_db=reduction,
        true_peak_dbtp=peak,
        budget_bound=held and short_of,
    )
    return finished, report


class RadioLeveller:
    """The radio's gain: each clip finished like any other, but the gain moves slowly.

    A clip's own target gain is approached by at most ``max_step_db`` per clip, so a quiet
    passage is lifted over several clips instead of jumping at the join (no pumping); the gain
    is constant within a clip, so a clip the stream repeats during an underrun repeats
    exactly. The first clip starts at its own gain. Not thread-safe: one per stream.
    """

    def __init__(self, policy: LoudnessPolicy | None = None, *, max_step_db: float = 1.5) -> None:
        self.policy = policy or LoudnessPolicy()
        self.max_step_db = max_step_db
        self.gain_db: float | None = None

    def level(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, FinishReport]:
        arr = _as_2d(audio)
        loudness = integrated_loudness(arr, sample_rate)
        if not math.isfinite(loudness):
            return finish(arr, sample_rate, self.policy)
        wanted = min(self.policy.target_lufs - loudness, self.policy.max_gain_db)
        if self.gain_db is not None:
            step = self.max_step_db
            wanted = min(max(wanted, self.gain_db - step), self.gain_db + step)
        out, report = finish(arr, sample_rate, self.policy, gain_db=wanted)
        self.gain_db = report.gain_db
        return out, report
