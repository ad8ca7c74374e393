"""Radio stream health with a generator only just faster than real time.

Three runs:

1. Ten minutes of radio time on a virtual clock (``VirtualTimeLoop``), a stand-in generator
   at a real-time factor of 1.2 (each 5.11 s clip takes 4.26 s of simulated time), read as
   discord.py's player reads: one frame every 20 ms. Counts underruns (loops of the playing
   clip), the largest sample step within each seam's window in units of the signal's typical
   (99th percentile) step, and the frame delivery gap: a frame is sent when its ``read()``
   returns, so gap = 20 ms + (this read's wall time - the previous read's).
2. Fifteen seconds in real time through discord.py's own ``AudioPlayer`` thread with a
   stand-in voice client, while the station generates on the event loop (the GIL is shared,
   as in the bot): the measured worst gap between packets, discord.py's deliberate 40 ms
   first gap excluded.
3. The tiny model for a short stretch (``--tiny-seconds``, 0 to skip), real time, the real
   pipeline as generator: its real-time factor and underruns on this machine.

Usage: ``.venv/bin/python benchmarks/radio.py [--minutes 10] [--rtf 1.2] [--tiny-seconds 20]``

Last line: ``radio: <minutes> min, underruns <n>, worst gap <ms> ms, worst seam jump <x> of
signal step``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from generation.radio import RadioStation
from generation.radio_plan import RadioSettings, initial_state
from generation.radio_sim import SyntheticGenerator, VirtualTimeLoop
from generation.radio_stream import (
    pcm16_to_float,
    seam_jump_ratio,
    seam_output_index,
)
from generation.radio_types import FRAME_SAMPLES
from generation.types import GenerationRequest


def virtual_run(minutes: float, rtf: float) -> dict[str, float]:
    frames = round(minutes * 60 * 50)
    pcm = bytearray()
    read_s: list[float] = []

    async def main() -> RadioStation:
        station = RadioStation(SyntheticGenerator(rtf=rtf), initial_state("jazz", 11))
        station.stream.keep_seam_log = True
        await station.start()
        await station.wait_ready()
        for _ in range(frames):
            t0 = time.perf_counter()
            frame = station.read()
            read_s.append(time.perf_counter() - t0)
            pcm.extend(frame)
            await asyncio.sleep(0.02)
        await station.stop()
        return station

    loop = VirtualTimeLoop()
    wall = time.perf_counter()
    try:
        station = loop.run_until_complete(main())
    finally:
        loop.close()
    wall = time.perf_counter() - wall
    reads = np.array(read_s)
    gaps = 0.020 + np.diff(reads)
    signal = pcm16_to_float(bytes(pcm))
    seams = [seam_output_index(s.input_index) for s in station.stream.stats.seam_log[1:]]
    seams = [s for s in seams if s < signal.shape[0] - FRAME_SAMPLES]
    window = seam_output_index(station.stream.crossfade) + 480
    return {
        "minutes": minutes,
        "underruns": station.stream.stats.underruns,
        "clips": station.stream.stats.clips_started,
        "worst_gap_ms": float(gaps.max() * 1000),
        "read_p50_us": float(np.median(reads) * 1e6),
        "read_max_ms": float(reads.max() * 1000),
        "seam_jump": seam_jump_ratio(signal, seams, window),
        "wall_s": wall,
    }


class _StandInVoiceClient:
    """What discord.py's AudioPlayer touches on a VoiceClient; records packet times."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.timeout = 1.0

        async def speak(state: Any) -> None:
            return None

        self.ws = types.SimpleNamespace(speak=speak)
        self.client = types.SimpleNamespace(loop=loop)

    def is_connected(self) -> bool:
        return True

    def wait_until_connected(self, timeout: float) -> bool:
        return True

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if encode:
            self.times.append(time.perf_counter())
            self.sizes.append(len(data))


async def realtime_run(
    seconds: float, generator: Any, label: str, *, frames_ahead: int = 0
) -> dict[str, Any]:
    """The real AudioPlayer thread reading the station while it generates on this loop."""
    import discord.player

    from bot.voice import RadioAudioSource

    station = RadioStation(
        generator,
        initial_state("jazz", 11, RadioSettings(steps=getattr(generator, "steps", 50))),
        start_after=2,  # as the bot's station_factory does
        frames_ahead=frames_ahead,
    )
    await station.start()
    t0 = time.perf_counter()
    await station.wait_ready(2)
    first_clip_s = time.perf_counter() - t0
    client = _StandInVoiceClient(asyncio.get_running_loop())
    done = threading.Event()
    player = discord.player.AudioPlayer(
        RadioAudioSource(station),
        client,  # type: ignore[arg-type]
        after=lambda error: done.set(),
    )
    player.start()
    await asyncio.sleep(seconds)
    player.stop()
    await asyncio.to_thread(player.join, 10)
    await station.stop()
    gaps = np.diff(np.array(client.times))[1:]  # discord.py's first gap is 40 ms by design
    return {
        "label": label,
        "frames": len(client.times),
        "fps": (len(client.times) - 1) / (client.times[-1] - client.times[0]),
        "worst_gap_ms": float(gaps.max() * 1000),
        "p99_gap_ms": float(np.percentile(gaps, 99) * 1000),
        "underruns": station.stream.stats.underruns,
        "bad_frames": sum(1 for s in client.sizes if s != 3840),
        "first_clip_s": first_clip_s,
    }


class _TinyGenerator:
    """The real pipeline on the tiny model, off the event loop, as the radio would use it."""

    def __init__(self, steps: int) -> None:
        from generation.models import load_model
        from generation.pipeline_cache import PipelineCache
        from generation.tiny import make_tiny

        folder = Path(tempfile.mkdtemp(prefix="radio-bench-")) / "tiny"
        self.model = load_model(str(make_tiny(folder, seed=0)), device="cpu", progress=False)
        self.cache = PipelineCache()
        self.steps = steps
        self.seconds: list[float] = []

    async def __call__(self, request: GenerationRequest, job_id: str) -> Any:
        from generation.pipeline import generate

        t0 = time.perf_counter()
        result = await asyncio.to_thread(generate, self.model, request, cache=self.cache)
        self.seconds.append(time.perf_counter() - t0)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rtf", type=float, default=1.2)
    parser.add_argument("--realtime-seconds", type=float, default=15.0)
    parser.add_argument("--tiny-seconds", type=float, default=20.0)
    parser.add_argument("--tiny-steps", type=int, default=3)
    args = parser.parse_args()

    v = virtual_run(args.minutes, args.rtf)
    print(
        f"virtual: {v['minutes']:g} min at RTF {args.rtf}: {v['clips']} clips, "
        f"underruns {v['underruns']}, read p50 {v['read_p50_us']:.0f} us, "
        f"max {v['read_max_ms']:.2f} ms, seam jump {v['seam_jump']:.2f}x, "
        f"{v['wall_s']:.1f} s wall"
    )
    worst_gap = v["worst_gap_ms"]
    if args.realtime_seconds > 0:
        synth = SyntheticGenerator(rtf=args.rtf)
        r = asyncio.run(realtime_run(args.realtime_seconds, synth, f"synthetic RTF {args.rtf}"))
        print(
            f"real time ({r['label']}): {r['frames']} frames in {args.realtime_seconds:g} s, "
            f"{r['fps']:.2f} fps, gap p99 {r['p99_gap_ms']:.1f} ms, worst "
            f"{r['worst_gap_ms']:.1f} ms, underruns {r['underruns']}, "
            f"wrong-size frames {r['bad_frames']}"
        )
        worst_gap = max(worst_gap, r["worst_gap_ms"])
    if args.tiny_seconds > 0:
        tiny = _TinyGenerator(args.tiny_steps)
        t = asyncio.run(realtime_run(args.tiny_seconds, tiny, "tiny model"))
        clip_s = float(np.median(tiny.seconds)) if tiny.seconds else float("nan")
        print(
            f"real time (tiny model, {args.tiny_steps} steps): {clip_s:.2f} s per 5.11 s clip "
            f"(RTF {5.11 / clip_s:.2f}), playing after {t['first_clip_s']:.1f} s, "
            f"{t['fps']:.2f} fps, worst gap {t['worst_gap_ms']:.1f} ms, "
            f"underruns {t['underruns']} in {args.tiny_seconds:g} s"
        )
    print(
        f"radio: {v['minutes']:g} min, underruns {v['underruns']}, worst gap {worst_gap:.1f} ms, "
        f"worst seam jump {v['seam_jump']:.2f} of signal step"
    )


if __name__ == "__main__":
    main()
