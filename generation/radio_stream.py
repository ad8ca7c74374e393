"""The gapless radio stream: generated clips in, exact 20 ms frames of 48 kHz stereo out.

Discord's audio player calls ``read()`` from its own thread every 20 ms and sends whatever it
gets; an empty answer ends playback and a slow one makes the next frames late. So ``read()``
never waits for anything: generated clips are pushed into a small queue ahead of playback,
and when playback reaches the end of a clip it crossfades (equal power, a few tens of ms)
into the next queued clip, or, when none is ready, back into the start of the clip that is
playing. Looping a whole clip keeps the beat grid intact, which is what Riffusion's own app
does when its servers fall behind.

Clips are joined at the model's 44.1 kHz and the joined signal goes through ONE streaming
soxr resampler to 48 kHz, so there is no edge at clip or chunk boundaries and the output
length is exact (N input samples always become N * 48000 / 44100 output samples).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from generation.audio import equal_power_fades
from generation.radio_types import CHANNELS, FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, OUTPUT_RATE
from generation.types import GenerationError

SILENT_FRAME = bytes(FRAME_BYTES)
#: Input samples pulled through the resampler at a time: about one frame, so a read costs
#: tens of microseconds whatever the clip length.
CHUNK = 1024

FloatArray = npt.NDArray[np.float32]

#: How fast the listener's volume may move: a full 0 -> 1 change takes 250 ms (12.5 frames),
#: slow enough that no step is heard as a click, quick enough to feel immediate.
GAIN_STEP_PER_FRAME = FRAME_MS / 250.0


def ramp_gain(block: FloatArray, start: float, end: float) -> FloatArray:
    """``block`` scaled by a gain moving linearly from ``start`` to ``end`` across it.

    The volume step of the stream: kept apart from the loudness and joins so that it only ever
    multiplies frames. A ramp within each frame (not one gain per frame) keeps the change free
    of steps at frame edges.
    """
    if start == end:
        return block if start == 1.0 else (block * np.float32(start)).astype(np.float32)
    n = block.shape[0]
    gains = np.linspace(start, end, n, endpoint=False, dtype=np.float32) + np.float32(
        (end - start) / n
    )
    out: FloatArray = (block * gains[:, None]).astype(np.float32)
    return out


def next_gain(current: float, target: float, max_step: float = GAIN_STEP_PER_FRAME) -> float:
    """The gain at the end of the next frame: ``target``, at most ``max_step`` away."""
    if abs(target - current) <= max_step:
        return target
    return current + max_step if target > current else current - max_step


@dataclass(frozen=True, eq=False)
class StreamClip:
    """One generated clip as the stream holds it: (samples, 2) float32 at the input rate.

    ``tag`` is whatever the owner wants back when the clip starts playing (a job id, the
    request, the radio state after it); the stream never looks inside it.
    """

    audio: FloatArray
    tag: Any = None

    @property
    def samples(self) -> int:
        return int(self.audio.shape[0])


@dataclass(frozen=True)
class Seam:
    """A join between two clips, for status, persistence and continuity checks.

    ``input_index`` is the input-rate sample where the crossfade begins; ``looped`` says the
    stream repeated the playing clip because the next one was not ready (an underrun);
    ``silent`` that it gave up looping after a long stall.
    """

    input_index: int
    clip: StreamClip
    looped: bool
    silent: bool = False


@dataclass
class StreamStats:
    frames: int = 0
    seams: int = 0
    underruns: int = 0
    silent_frames_waiting: int = 0
    clips_started: int = 0
    stalled_loops: int = 0
    seam_log: list[Seam] = field(default_factory=list)


def to_stream_audio(audio: Any, sample_rate: int, input_rate: int) -> FloatArray:
    """(channels, samples) or (samples,) float audio -> contiguous (samples, 2) float32.

    The engine hands audio channel-first; soxr wants time-first. Mono is duplicated rather
    than panned so that its loudness is the same on both ears.
    """
    if sample_rate != input_rate:
        raise GenerationError(
            f"The radio expects {input_rate} Hz clips but got {sample_rate} Hz audio."
        )
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] not in (1, 2):
        raise GenerationError(f"The radio expects mono or stereo audio, got shape {array.shape}.")
    if array.shape[0] == 1:
        array = np.repeat(array, 2, axis=0)
    if not np.all(np.isfinite(array)):
        raise GenerationError("The generated clip contains invalid samples.")
    out: FloatArray = np.ascontiguousarray(array.T)
    return out


def equal_power_crossfade(tail: FloatArray, head: FloatArray) -> FloatArray:
    """Blend ``tail`` out and ``head`` in with ``generation.audio``'s equal-power gains.

    The stream is time-first (soxr's layout), so this applies the shared fades along axis 0
    rather than calling ``crossfade_join``, which joins whole channel-first clips.
    """
    fade_out, fade_in = equal_power_fades(tail.shape[0])
    mixed: FloatArray = (tail * fade_out[:, None] + head * fade_in[:, None]).astype(np.float32)
    return mixed


CEILING = 10.0 ** (-1.0 / 20.0)
"""-1 dBFS: the finished clips' true-peak ceiling, which a crossfade must not undo."""


def under_ceiling(segment: FloatArray, ceiling: float = CEILING) -> FloatArray:
    """A crossfade with its peaks brought under ``ceiling`` by a smooth dip, if it has any.

    Each clip is finished under the ceiling, but the equal-power sum of two unrelated clips can
    peak up to 3 dB above either. The dip is 1 - d * sin(pi t) over the crossfade, gain 1 at
    both ends (no step into either clip), with the smallest d that fits (at most 0.5, -6 dB).
    """
    level = np.abs(segment).max(axis=1)
    if level.size == 0 or float(level.max()) <= ceiling:
        return segment
    window = np.sin(np.pi * (np.arange(level.size) + 0.5) / level.size)
    over = level > ceiling
    depth = min(0.5, float(((1.0 - ceiling / level[over]) / window[over]).max()))
    dipped: FloatArray = (segment * (1.0 - depth * window)[:, None]).astype(np.float32)
    return dipped


class RadioStream:
    """Clips in (any thread), frames out (the player thread); thread-safe, never blocking.

    ``on_seam`` is called from the reading thread at every join, so it must only hand the
    news on (e.g. ``loop.call_soon_threadsafe``).
    """

    def __init__(
        self,
        *,
        input_rate: int = 44_100,
        crossfade_s: float = 0.05,
        max_stall_loops: int = 12,
        history_s: float = 30.0,
        quality: str = "HQ",
        on_seam: Callable[[Seam], None] | None = None,
        keep_seam_log: bool = False,
        start_after: int = 1,
    ) -> None:
        """``start_after``: clips that must be ready before the first one plays (2 gives a
        generator that is only just fast enough a whole clip of slack from the start)."""
        if crossfade_s < 0:
            raise GenerationError("The crossfade cannot be negative.")
        self.input_rate = input_rate
        self.crossfade = round(crossfade_s * input_rate)
        self.max_stall_loops = max_stall_loops
        self.on_seam = on_seam
        self.keep_seam_log = keep_seam_log
        self.start_after = max(1, start_after)
        self.stats = StreamStats()
        self._lock = threading.Lock()
        self._ready: deque[StreamClip] = deque()
        self._resampler = soxr.ResampleStream(
            input_rate, OUTPUT_RATE, CHANNELS, dtype="float32", quality=quality
        )
        self._current: StreamClip | None = None
        # What plays: the clip's own samples, except its first ``crossfade`` samples, which are
        # ``self._head`` (the crossfade from the previous clip). Kept apart so that a seam
        # copies only the crossfade, never the whole clip, inside the player's 20 ms.
        self._buffer: FloatArray | None = None
        self._head: FloatArray = np.zeros((0, CHANNELS), dtype=np.float32)
        self._pos = 0
        self._input_index = 0
        self._stall_loops = 0
        self._out = np.zeros((0, CHANNELS), dtype=np.float32)
        self._history: deque[bytes] = deque(maxlen=max(1, round(history_s * 1000 / FRAME_MS)))
        self._started_at_frame: deque[tuple[int, StreamClip]] = deque(maxlen=64)
        self._read_lock = threading.Lock()
        self._gain = 1.0
        self.gain_target = 1.0
        """The listener's volume (1.0 = as generated); reached by :func:`ramp_gain`."""

    # ------------------------------------------------------------------ producer side
    def push(self, clip: StreamClip) -> None:
        """Queue a clip to play after those already queued."""
        audio = clip.audio
        if audio.ndim != 2 or audio.shape[1] != CHANNELS or audio.dtype != np.float32:
            # Caught here, not in read(): a bad clip there would end discord.py's player.
            raise GenerationError("Radio clips must be (samples, 2) float32; use to_stream_audio.")
        if clip.samples < 4 * max(self.crossfade, 1):
            raise GenerationError(
                f"A radio clip of {clip.samples} samples is too short for the crossfade."
            )
        with self._lock:
            self._ready.append(clip)

    def drop_ready(self) -> list[StreamClip]:
        """Forget the queued clips (a skip); the playing one plays on to its crossfade."""
        with self._lock:
            dropped = list(self._ready)
            self._ready.clear()
        return dropped

    def ready_count(self) -> int:
        """Clips generated and waiting, not counting the one playing."""
        with self._lock:
            return len(self._ready)

    def buffered_seconds(self) -> float:
        """Audio ahead of the listener: the rest of the playing clip plus the queued ones."""
        with self._lock:
            queued = sum(c.samples - self.crossfade for c in self._ready)
        remaining = 0 if self._buffer is None else self._buffer.shape[0] - self._pos
        return (queued + remaining) / self.input_rate

    def needs_next(self) -> bool:
        """True when the next ``read()`` may reach the playing clip's end with nothing queued."""
        if self.ready_count() > 0:
            return False
        if self._buffer is None:
            return True
        left = int(self._buffer.shape[0]) - self.crossfade - self._pos
        return left < 2 * CHUNK

    @property
    def current(self) -> StreamClip | None:
        return self._current

    @property
    def started(self) -> bool:
        return self._current is not None

    # ------------------------------------------------------------------ consumer side
    def read(self) -> bytes:
        """Exactly one 20 ms frame of s16le 48 kHz stereo; silence only before the first clip."""
        with self._read_lock:
            if self._current is None and not self._start_first():
                # Waiting for the first clip is not radio anyone would want to save.
                self.stats.frames += 1
                self.stats.silent_frames_waiting += 1
                return SILENT_FRAME
            while self._out.shape[0] < FRAME_SAMPLES:
                chunk = self._pull(CHUNK)
                resampled = self._resampler.resample_chunk(chunk)
                if resampled.shape[0]:
                    self._out = np.concatenate((self._out, resampled))
            block, self._out = self._out[:FRAME_SAMPLES], self._out[FRAME_SAMPLES:]
            frame = to_pcm16(block)
            self.stats.frames += 1
            self._history.append(frame)  # saved as made, whatever the listener's volume
            return self._apply_volume(block, frame)

    def _apply_volume(self, block: FloatArray, frame: bytes) -> bytes:
        start = self._gain
        self._gain = next_gain(start, self.gain_target)
        if start == self._gain == 1.0:
            return frame
        return to_pcm16(ramp_gain(block, start, self._gain))

    def recent_pcm(self, seconds: float) -> bytes:
        """The last ``seconds`` of what was read, as s16le 48 kHz stereo (for ``/radio save``)."""
        frames = max(1, round(seconds * 1000 / FRAME_MS))
        with self._read_lock:
            return b"".join(list(self._history)[-frames:])

    def recent_clips(self, seconds: float) -> list[StreamClip]:
        """Clips heard in the last ``seconds``, oldest first (their tags carry job ids)."""
        frames = max(1, round(seconds * 1000 / FRAME_MS))
        with self._read_lock:
            first = self.stats.frames - frames
            started = list(self._started_at_frame)
        chosen: list[StreamClip] = []
        for i, (_at, clip) in enumerate(started):
            nxt = started[i + 1][0] if i + 1 < len(started) else self.stats.frames + 1
            if nxt > first and clip not in chosen:
                chosen.append(clip)
        return chosen

    def _start_first(self) -> bool:
        with self._lock:
            if len(self._ready) < self.start_after:
                return False
            clip = self._ready.popleft()
        silence = np.zeros((self.crossfade, CHANNELS), dtype=np.float32)
        self._begin(clip, silence, looped=False, silent=False)
        return True

    def _pull(self, n: int) -> FloatArray:
        """The next ``n`` input samples of the joined signal, joining clips as needed."""
        assert self._buffer is not None
        parts: list[FloatArray] = []
        need = n
        while need > 0:
            boundary = self._buffer.shape[0] - self.crossfade
            if self._pos >= boundary:
                self._next_clip(self._buffer[boundary:])
                continue
            head = self._head.shape[0]
            if self._pos < head:
                take = min(need, head - self._pos)
                parts.append(self._head[self._pos : self._pos + take])
            else:
                take = min(need, boundary - self._pos)
                parts.append(self._buffer[self._pos : self._pos + take])
            self._pos += take
            self._input_index += take
            need -= take
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _next_clip(self, tail: FloatArray) -> None:
        """At a clip's end: the next queued clip, else the playing one again (an underrun)."""
        assert self._current is not None
        with self._lock:
            clip = self._ready.popleft() if self._ready else None
        if clip is not None:
            self._stall_loops = 0
            self._begin(clip, tail, looped=False, silent=False)
            return
        self.stats.underruns += 1
        self._stall_loops += 1
        self.stats.stalled_loops = max(self.stats.stalled_loops, self._stall_loops)
        previous = self._current
        if self._stall_loops > self.max_stall_loops:
            # After a long stall a fade to silence beats the same five seconds forever.
            silent = StreamClip(np.zeros_like(previous.audio), previous.tag)
            self._begin(silent, tail, looped=True, silent=True, keep_current=previous)
        else:
            self._begin(previous, tail, looped=True, silent=False)

    def _begin(
        self,
        clip: StreamClip,
        tail: FloatArray,
        *,
        looped: bool,
        silent: bool,
        keep_current: StreamClip | None = None,
    ) -> None:
        x = self.crossfade
        head = clip.audio[:x]
        joined = under_ceiling(equal_power_crossfade(tail, head)) if x else head
        self._head = joined
        self._buffer = clip.audio
        self._pos = 0
        self._current = keep_current or clip
        seam = Seam(self._input_index, self._current, looped=looped, silent=silent)
        self.stats.seams += 1
        if not looped:
            self.stats.clips_started += 1
            self._started_at_frame.append((self.stats.frames, clip))
        if self.keep_seam_log:
            self.stats.seam_log.append(seam)
        if self.on_seam is not None:
            self.on_seam(seam)

    def flush(self) -> bytes:
        """End the stream: the resampler's tail as PCM (for file rendering, not for Discord)."""
        with self._read_lock:
            tail = self._resampler.resample_chunk(
                np.zeros((0, CHANNELS), dtype=np.float32), last=True
            )
            rest = np.concatenate((self._out, tail))
            self._out = np.zeros((0, CHANNELS), dtype=np.float32)
            return to_pcm16(rest)

    @property
    def input_samples(self) -> int:
        """Input-rate samples pulled into the resampler so far."""
        return self._input_index


def to_pcm16(block: FloatArray) -> bytes:
    """(samples, 2) float in [-1, 1] -> interleaved s16le bytes; clipped, never wrapped."""
    clipped = np.clip(block, -1.0, 1.0)
    return (np.round(clipped * 32767.0)).astype("<i2").tobytes()


def pcm16_to_float(pcm: bytes) -> FloatArray:
    """Interleaved s16le stereo bytes -> (samples, 2) float32, for tests and file export."""
    data = np.frombuffer(pcm, dtype="<i2").reshape(-1, CHANNELS)
    return (data.astype(np.float32) / 32767.0).astype(np.float32)


def seam_output_index(input_index: int, input_rate: int = 44_100) -> int:
    """Where an input-rate sample lands in the 48 kHz output (soxr's stream is delay-aligned)."""
    return round(input_index * OUTPUT_RATE / input_rate)


def seam_jump_ratio(
    signal: FloatArray, seam_indices: list[int], half_window: int, *, percentile: float = 99.0
) -> float:
    """Largest sample-to-sample step near any seam, in units of the signal's typical step.

    The typical step is a high percentile of |x[n+1] - x[n]| over the whole signal, so music
    with sharp attacks is not mistaken for a click; a click at a seam shows as a ratio well
    above 1, a clean crossfade stays near or below it. ``signal`` is (samples, channels).
    """
    steps = np.abs(np.diff(signal.astype(np.float64), axis=0)).max(axis=1)
    if steps.size == 0 or not seam_indices:
        return 0.0
    typical = float(np.percentile(steps, percentile))
    if typical <= 0.0:
        return 0.0
    worst = 0.0
    for index in seam_indices:
        lo, hi = max(0, index - half_window), min(steps.size, index + half_window)
        if hi > lo:
            worst = max(worst, float(steps[lo:hi].max()))
    return worst / typical
