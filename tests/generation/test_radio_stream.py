"""The gapless stream: exact frames, exact resampled length, clean seams, loop on underrun."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from generation.radio_stream import (
    RadioStream,
    StreamClip,
    pcm16_to_float,
    seam_jump_ratio,
    seam_output_index,
    to_stream_audio,
)
from generation.radio_types import FRAME_BYTES, FRAME_SAMPLES, OUTPUT_RATE
from generation.types import GenerationError

SR = 44_100


def tone_clip(seconds: float, freq: float, phase: float, tag: object = None) -> StreamClip:
    """A sine that starts and ends at arbitrary phase: butt-joined, its seams would click."""
    t = np.arange(round(seconds * SR)) / SR
    left = 0.5 * np.sin(2 * np.pi * freq * t + phase)
    right = 0.5 * np.sin(2 * np.pi * freq * 1.01 * t + phase + 1.0)
    return StreamClip(np.stack((left, right), axis=1).astype(np.float32), tag)


def read_all(stream: RadioStream, frames: int) -> list[bytes]:
    return [stream.read() for _ in range(frames)]


def frames_to_float(frames: list[bytes]) -> np.ndarray:
    return pcm16_to_float(b"".join(frames))


def test_silence_before_the_first_clip_is_not_an_underrun() -> None:
    stream = RadioStream()
    frames = read_all(stream, 5)
    assert frames == [bytes(FRAME_BYTES)] * 5
    assert stream.stats.underruns == 0
    assert stream.stats.silent_frames_waiting == 5


def test_hundreds_of_clips_give_exact_frames_exact_length_and_clean_seams() -> None:
    rng = np.random.default_rng(0)
    stream = RadioStream(crossfade_s=0.02, keep_seam_log=True)
    clips = [tone_clip(0.25, rng.uniform(200, 600), rng.uniform(0, 6.28), i) for i in range(300)]
    frames: list[bytes] = []
    for clip in clips:
        stream.push(clip)
        while stream.ready_count() > 0:  # keep one clip queued: no underrun by construction
            frames.append(stream.read())
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert stream.stats.underruns == 0
    assert stream.stats.clips_started == 300
    # Exact length: every input sample pulled so far comes out at 48/44.1, none lost or doubled.
    tail = stream.flush()
    out_samples = len(frames) * FRAME_SAMPLES + len(tail) // 4
    assert out_samples == round(stream.input_samples * OUTPUT_RATE / SR)
    signal = frames_to_float(frames)
    seams = [seam_output_index(s.input_index) for s in stream.stats.seam_log[1:]]
    seams = [s for s in seams if s < signal.shape[0] - 2000]
    assert len(seams) > 250
    # An equal-power blend of two tones can be up to sqrt(2) louder for a moment; a click is
    # 10-20x the typical step (see the control below).
    assert seam_jump_ratio(signal, seams, half_window=1500) < 2.0


def test_the_seam_measure_catches_butt_joins() -> None:
    """Control: the same clips without a crossfade click, and the measure says so."""
    rng = np.random.default_rng(0)
    stream = RadioStream(crossfade_s=0.0, keep_seam_log=True)
    frames: list[bytes] = []
    for i in range(40):
        stream.push(tone_clip(0.25, rng.uniform(200, 600), rng.uniform(0, 6.28), i))
        while stream.ready_count() > 0:
            frames.append(stream.read())
    signal = frames_to_float(frames)
    seams = [seam_output_index(s.input_index) for s in stream.stats.seam_log[1:]]
    seams = [s for s in seams if s < signal.shape[0] - 2000]
    assert seam_jump_ratio(signal, seams, half_window=1500) > 5.0


def test_streaming_resampler_matches_a_one_shot_resample() -> None:
    """No edges at the 1024-sample chunk boundaries: the stream equals resampling in one go."""
    clip = tone_clip(2.0, 440.0, 0.3)
    stream = RadioStream(crossfade_s=0.0)
    stream.push(clip)
    frames = read_all(stream, 80)  # 1.6 s, inside the clip
    got = frames_to_float(frames)
    want = soxr.resample(clip.audio, SR, OUTPUT_RATE, quality="HQ")[: got.shape[0]]
    # 16-bit rounding is the only difference, away from the resampler's start-up edge.
    assert np.max(np.abs(got[500:] - want[500:])) < 2e-4


def test_resampled_length_is_exact_for_riffusion_clip_lengths() -> None:
    stream = RadioStream(crossfade_s=0.0)
    stream.push(StreamClip(np.zeros((225_792, 2), np.float32)))  # 5.12 s
    frames = 0
    while stream.input_samples < 225_792:
        stream.read()
        frames += 1
    pulled = stream.input_samples
    total = frames * FRAME_SAMPLES + len(stream.flush()) // 4
    assert total == round(pulled * OUTPUT_RATE / SR)
    assert round(225_792 * OUTPUT_RATE / SR) == 245_760


def test_underrun_loops_the_playing_clip_without_silence() -> None:
    stream = RadioStream(crossfade_s=0.02, keep_seam_log=True)
    first = tone_clip(0.5, 330.0, 1.0, "first")
    stream.push(first)
    frames = read_all(stream, 60)  # 1.2 s from a 0.5 s clip: it must loop twice
    assert stream.stats.underruns == 2
    assert [s.looped for s in stream.stats.seam_log] == [False, True, True]
    assert stream.current is not None
    assert stream.current.tag == "first"
    signal = frames_to_float(frames)
    frame_rms = np.sqrt((signal[2 * FRAME_SAMPLES :] ** 2).reshape(-1, FRAME_SAMPLES * 2).mean(1))
    assert frame_rms.min() > 0.2  # never silent, not even at the loop points
    seams = [seam_output_index(s.input_index) for s in stream.stats.seam_log[1:]]
    assert seam_jump_ratio(signal, seams, half_window=1500) < 1.3
    # The loop is the same clip again: one clip period later the output repeats.
    period = seam_output_index(first.samples - stream.crossfade)
    a = signal[2 * FRAME_SAMPLES : 2 * FRAME_SAMPLES + 4000]
    b = signal[2 * FRAME_SAMPLES + period : 2 * FRAME_SAMPLES + period + 4000]
    assert np.max(np.abs(a - b)) < 0.01
    # A clip that arrives during a loop plays at the next clip boundary.
    stream.push(tone_clip(0.5, 500.0, 0.0, "second"))
    read_all(stream, 30)
    assert stream.current is not None
    assert stream.current.tag == "second"
    assert stream.stats.underruns == 2


def test_a_long_stall_fades_to_silence_then_recovers() -> None:
    stream = RadioStream(crossfade_s=0.02, max_stall_loops=1)
    stream.push(tone_clip(0.3, 330.0, 1.0, "a"))
    frames = read_all(stream, 75)  # 1.5 s: one loop, then silence
    assert all(len(f) == FRAME_BYTES for f in frames)
    tail = frames_to_float(frames[-10:])
    assert np.max(np.abs(tail)) == 0.0
    stream.push(tone_clip(0.3, 330.0, 1.0, "b"))
    after = frames_to_float(read_all(stream, 30))
    assert np.max(np.abs(after)) > 0.3
    assert stream.current is not None
    assert stream.current.tag == "b"


def test_history_holds_what_was_heard_and_which_clips_made_it() -> None:
    stream = RadioStream(crossfade_s=0.01, history_s=1.0)
    for tag in ("a", "b", "c", "d"):
        stream.push(tone_clip(0.4, 300.0, 0.0, tag))
    frames = read_all(stream, 70)  # 1.4 s: clips a..d, each ~0.39 s
    assert stream.recent_pcm(0.5) == b"".join(frames[-25:])
    assert len(stream.recent_pcm(10.0)) == 50 * FRAME_BYTES  # capped at history_s
    assert [c.tag for c in stream.recent_clips(0.2)] == ["d"]
    assert [c.tag for c in stream.recent_clips(0.8)] == ["b", "c", "d"]


def test_clip_conversion_and_validation() -> None:
    mono = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)[None, :]
    stereo = to_stream_audio(mono, SR, SR)
    assert stereo.shape == (1000, 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1])
    with pytest.raises(GenerationError, match="44100 Hz"):
        to_stream_audio(mono, 22_050, SR)
    with pytest.raises(GenerationError, match="invalid samples"):
        to_stream_audio(np.full((2, 100), np.nan, np.float32), SR, SR)
    with pytest.raises(GenerationError, match="too short"):
        RadioStream(crossfade_s=0.05).push(StreamClip(np.zeros((100, 2), np.float32)))
    with pytest.raises(GenerationError, match="float32"):
        RadioStream().push(StreamClip(np.zeros((44_100, 2), np.float64)))


def test_loud_audio_is_clipped_not_wrapped() -> None:
    stream = RadioStream(crossfade_s=0.0)
    stream.push(StreamClip(np.full((44_100, 2), 3.0, np.float32)))
    frames = read_all(stream, 20)
    data = np.frombuffer(b"".join(frames[5:]), dtype="<i2")
    assert data.min() > 30_000  # a wrap to negative would show as a large negative value


def test_playback_can_wait_for_a_second_clip_before_starting() -> None:
    stream = RadioStream(crossfade_s=0.02, start_after=2)
    stream.push(tone_clip(0.3, 330.0, 0.0, "a"))
    assert read_all(stream, 3) == [bytes(FRAME_BYTES)] * 3
    stream.push(tone_clip(0.3, 330.0, 0.0, "b"))
    read_all(stream, 20)  # 0.4 s: a, then b, with no loop in between
    assert stream.stats.underruns == 0
    assert stream.current is not None
    assert stream.current.tag == "b"


def test_the_wait_for_the_first_clip_is_not_in_the_history() -> None:
    """``/radio save`` just after a start must not post the warm-up silence as radio."""
    stream = RadioStream(crossfade_s=0.01, history_s=5.0)
    read_all(stream, 100)  # two seconds of waiting for the first clip
    assert stream.recent_pcm(5.0) == b""
    stream.push(tone_clip(1.0, 300.0, 0.0, "a"))
    heard = read_all(stream, 10)
    assert stream.recent_pcm(5.0) == b"".join(heard)


def test_a_crossfade_of_two_hot_clips_is_dipped_under_the_ceiling() -> None:
    from generation.radio_stream import CEILING, under_ceiling

    n = 2205
    fade_out, fade_in = np.cos(np.linspace(0, np.pi / 2, n)), np.sin(np.linspace(0, np.pi / 2, n))
    tail = np.full((n, 2), CEILING, np.float32)
    head = np.full((n, 2), CEILING, np.float32)  # in phase: the sum peaks 3 dB over
    mixed = (tail * fade_out[:, None] + head * fade_in[:, None]).astype(np.float32)
    assert float(mixed.max()) > 1.4 * CEILING * 0.99
    dipped = under_ceiling(mixed)
    assert float(np.abs(dipped).max()) <= CEILING + 1e-6
    assert dipped[0, 0] == pytest.approx(mixed[0, 0], abs=1e-3)  # gain 1 at both ends
    assert dipped[-1, 0] == pytest.approx(mixed[-1, 0], abs=1e-3)
    assert np.abs(np.diff(dipped[:, 0])).max() < 0.01  # a smooth dip, not a step
    quiet = 0.5 * mixed
    assert under_ceiling(quiet) is quiet
