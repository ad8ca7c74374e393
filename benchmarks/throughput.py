"""Throughput of the generation path with a fast model: is the model's thread kept busy?

A stand-in model whose UNet and VAE *sleep* a fixed time on the model's thread (about 0.3 s
of model time per clip: the stand-in speed of an H100 at Riffusion's defaults, and sleeping
leaves the cores free for post-processing) runs a stream of clips through the real engine
(``pipeline_engine``: real text encoder of the tiny model, real scheduler loop, real phase
reconstruction, pictures, MP3s and files). Measured in one run:

1. Post ceiling: post-processing alone (phase, picture, MP3, files) through the process pool,
   clips per second on this machine's cores.
2. Today's serial path (``post_workers=0``: everything after the VAE on the model's thread).
3. The pipelined path (the pool beside the model's thread), with a radio played in real time
   through discord.py's own ``AudioPlayer`` for ``--radio-seconds`` while the stream
   saturates the cores; its clips come from the same engine (radio priority) and its frames
   are prepared ahead of the player, as the bot's station_factory does. Its clips count in
   the pipelined rate: they took the model's thread and the pool like any other clip.

"Model thread busy" is model time (the sleeps, plus the tiny model's real text encoder, which is
model work too) over the time the engine's worker spent running batches (``busy_seconds``: not
the time it waited for work or for room in the post-processing stage), so 100 % means the model's
thread did nothing but model work.

Usage: ``.venv/bin/python benchmarks/throughput.py [--clips 48] [--serial-clips 16]``

Last line: ``throughput: model thread busy B %, X clips/s vs S serial (R x), post ceiling C
clips/s, radio worst gap G ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import sys
import tempfile
import threading
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch

STEPS = 10  # PNDM, img2img at 0.75: 8 UNet passes per clip
PASSES = 8
PROMPTS = ("lofi hip hop piano", "funky bass groove", "ambient pads", "jazz drums", "techno")


class ModelClock:
    """Model time spent on the model's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = 0.0

    def sleep(self, seconds: float) -> None:
        started = time.perf_counter()
        time.sleep(seconds)
        self.count(started, time.perf_counter())

    def count(self, started: float, ended: float) -> None:
        with self.lock:
            self.busy += ended - started

    def reset(self) -> None:
        with self.lock:
            self.busy = 0.0


class TimedTextEncoder:
    """The tiny model's real text encoder, its time counted as model work (which it is)."""

    def __init__(self, encoder: Any, clock: ModelClock) -> None:
        self.encoder = encoder
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.encoder(*args, **kwargs)
        finally:
            self.clock.count(started, time.perf_counter())


class SleepyUNet:
    """Predicts zero noise after sleeping ``per_item`` s for every clip in the batch."""

    def __init__(self, config: Any, per_item: float, clock: ModelClock) -> None:
        self.config = config
        self.per_item = per_item
        self.clock = clock

    def __call__(self, batch: torch.Tensor, t: Any, encoder_hidden_states: Any) -> Any:
        self.clock.sleep(self.per_item * batch.shape[0] / 2)  # CFG: two rows per clip
        return types.SimpleNamespace(sample=torch.zeros_like(batch))


class SleepyVae:
    """The tiny model's real encoder (seed images, cached); a decoder that sleeps and returns
    a real spectrogram (a seed image, shifted per call) so post-processing has music to do."""

    def __init__(self, vae: Any, per_item: float, clock: ModelClock, image: np.ndarray) -> None:
        self.vae = vae
        self.config = vae.config
        self.per_item = per_item
        self.clock = clock
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        # made up front, so the stand-in costs the model's thread nothing but its sleep
        self.variants = [torch.roll(pixels, shifts=97 * k, dims=-1) for k in range(8)]
        self.calls = 0

    def encode(self, pixels: torch.Tensor) -> Any:
        return self.vae.encode(pixels)

    def decode(self, latent: torch.Tensor) -> Any:
        self.clock.sleep(self.per_item * latent.shape[0])
        self.calls += 1
        width = latent.shape[-1] * 8
        image = self.variants[self.calls % len(self.variants)][..., :width]
        return types.SimpleNamespace(sample=image.expand(latent.shape[0], -1, -1, -1))


def stand_in_model(workdir: Path, model_s: float, clock: ModelClock) -> Any:
    from generation.codec import open_image
    from generation.models import LoadedModel, load_model
    from generation.seeds import SEED_DIR

    tiny = load_model("tiny", tiny_dir=workdir / "tiny", device="cpu", progress=False)
    vae_s = 0.04 * model_s / 0.3
    unet_s = (model_s - vae_s) / PASSES
    image = np.array(open_image(SEED_DIR / "og_beat.png").convert("RGB"))
    pipe = types.SimpleNamespace(
        tokenizer=tiny.pipe.tokenizer,
        text_encoder=TimedTextEncoder(tiny.pipe.text_encoder, clock),
        scheduler=tiny.pipe.scheduler,
        unet=SleepyUNet(tiny.pipe.unet.config, unet_s, clock),
        vae=SleepyVae(tiny.pipe.vae, vae_s, clock, image),
    )
    return LoadedModel(
        pipe=pipe,
        model_id="stand-in",
        revision=None,
        device=torch.device("cpu"),
        dtype=torch.float32,
        is_tiny=True,
    )


def riff(index: int) -> Any:
    from generation.types import Endpoint, GenerationRequest, Mode

    prompt = f"{PROMPTS[index % len(PROMPTS)]} {index}"
    return GenerationRequest(mode=Mode.RIFF, start=Endpoint(prompt, seed=index), steps=STEPS)


def _post_and_write(decoded: Any, out_dir: Path, stem: str) -> float:
    from generation.outputs import write_outputs
    from generation.post import post_process

    files = write_outputs(post_process(decoded), out_dir, stem)
    return files.duration_s


def post_ceiling(model: Any, clips: int, workers: int, out: Path) -> float:
    """Clips per second of post-processing alone (phase, picture, MP3, files) on the pool."""
    from generation.pipeline import run_batch
    from generation.pipeline_cache import PipelineCache
    from generation.workers import PostPool

    captured: list[Any] = []

    def capture(decoded: Any) -> concurrent.futures.Future[Any]:
        captured.append(decoded)
        return concurrent.futures.Future()

    cache = PipelineCache()
    for i in range(clips):
        run_batch(
            model, [riff(900 + i)], [lambda *_: None], [lambda: False], cache=cache, post=capture
        )
    pool = PostPool(workers)
    try:
        warm = [pool.submit(_post_and_write, captured[0], out, f"warm{i}") for i in range(workers)]
        for future in warm:  # spawn the workers and JIT (numba) before timing
            future.result()
        started = time.perf_counter()
        futures = [pool.submit(_post_and_write, d, out, f"ceil{i}") for i, d in enumerate(captured)]
        for future in futures:
            future.result()
        return clips / (time.perf_counter() - started)
    finally:
        pool.close()


async def stream(
    engine: Any, clips: int, out: Path, keep_going: asyncio.Event | None = None
) -> tuple[int, float]:
    """Render ``clips`` riffs (and more while ``keep_going`` is unset) with 16 in flight;
    returns the clips done and the seconds from the first submission to the last delivery."""
    started = time.perf_counter()
    pending: set[asyncio.Task[Any]] = set()
    done = submitted = 0
    while submitted < clips or (keep_going is not None and not keep_going.is_set()):
        while len(pending) < 16:
            job = f"clip{submitted}"
            pending.add(
                asyncio.create_task(
                    engine.render(
                        riff(submitted), job_id=job, owner=f"user{submitted % 6}", out_dir=out
                    )
                )
            )
            submitted += 1
        finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        done += len(finished)
        for task in finished:
            task.result()
    if pending:
        await asyncio.gather(*pending)
        done += len(pending)
    return done, time.perf_counter() - started


def make_engine(model: Any, post_workers: int, max_batch: int) -> Any:
    from generation.pipeline_engine import pipeline_engine

    return pipeline_engine(
        lambda: model,
        post_workers=post_workers,
        max_batch=max_batch,
        max_queued=50,
        max_per_owner=20,
        max_per_radio_owner=4,
    )


async def warm(engine: Any, out: Path, count: int) -> None:
    await asyncio.gather(
        *(
            engine.render(riff(500 + i), job_id=f"warm{i}", owner="warm", out_dir=out)
            for i in range(count)
        )
    )


class EngineRadio:
    """The radio's generator on the shared engine (radio priority), at the stream's steps;
    counts its clips, which took the model's thread like any other."""

    steps = STEPS

    def __init__(self, engine: Any) -> None:
        from generation.radio import engine_generator

        self.generate = engine_generator(engine, owner="radio:1")
        self.clips = 0

    async def __call__(self, request: Any, job_id: str) -> Any:
        result = await self.generate(request, job_id)
        self.clips += 1
        return result


async def pipelined(
    model: Any, clock: ModelClock, args: argparse.Namespace, out: Path
) -> tuple[float, float, int, dict[str, Any], float]:
    from radio import realtime_run  # benchmarks/radio.py

    engine = make_engine(model, args.workers, args.max_batch)
    try:
        await warm(engine, out, args.workers)
        clock.reset()
        worker_before = engine.busy_seconds
        radio_done = asyncio.Event()

        station = EngineRadio(engine)

        async def radio() -> dict[str, Any]:
            try:
                return await realtime_run(args.radio_seconds, station, "engine", frames_ahead=10)
            finally:
                radio_done.set()

        radio_task = asyncio.create_task(radio())
        done, seconds = await stream(engine, args.clips, out, radio_done)
        result = await radio_task
        worker = engine.busy_seconds - worker_before
        busy = clock.busy / worker
        clips = done + station.clips  # the radio's clips ran in the same window
        per_clip_outside = (worker - clock.busy) / max(clips, 1)
    finally:
        await engine.aclose()
    result["clips"] = station.clips
    return clips / seconds, busy, done, result, per_clip_outside


async def serial(
    model: Any, clock: ModelClock, args: argparse.Namespace, out: Path
) -> tuple[float, float]:
    engine = make_engine(model, 0, args.max_batch)
    try:
        await warm(engine, out, 1)
        clock.reset()
        worker_before = engine.busy_seconds
        done, seconds = await stream(engine, args.serial_clips, out)
        busy = clock.busy / (engine.busy_seconds - worker_before)
    finally:
        await engine.aclose()
    return done / seconds, busy


def main(argv: Sequence[str] | None = None) -> int:
    from generation.workers import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-seconds", type=float, default=0.3, help="model time per clip")
    parser.add_argument("--clips", type=int, default=40, help="pipelined stream (at least)")
    parser.add_argument("--serial-clips", type=int, default=16)
    parser.add_argument("--ceiling-clips", type=int, default=12)
    parser.add_argument("--radio-seconds", type=float, default=16.0)
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--max-batch", type=int, default=1)
    args = parser.parse_args(argv)
    loadavg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{available_cores()} cores, load average {loadavg} (a shared box: higher load, slower)")
    clock = ModelClock()
    with tempfile.TemporaryDirectory(prefix="riffbot-throughput-") as tmp:
        workdir = Path(tmp)
        model = stand_in_model(workdir, args.model_seconds, clock)
        ceiling = post_ceiling(model, args.ceiling_clips, args.workers, workdir / "ceiling")
        print(f"post ceiling: {ceiling:.2f} clips/s on {args.workers} worker processes")
        s_rate, s_busy = asyncio.run(serial(model, clock, args, workdir / "serial"))
        print(
            f"serial path: {s_rate:.2f} clips/s, model thread busy {100 * s_busy:.0f} % "
            f"({args.serial_clips} clips, {args.model_seconds:g} s of model time each)"
        )
        rate, busy, done, radio, outside = asyncio.run(
            pipelined(model, clock, args, workdir / "pipelined")
        )
    print(
        f"pipelined: {rate:.2f} clips/s over {done} clips and {radio['clips']} radio clips, "
        f"model thread busy {100 * busy:.0f} % "
        f"({1000 * outside:.0f} ms per clip outside model work)"
    )
    print(
        f"radio while saturated: {radio['frames']} frames in {args.radio_seconds:g} s, "
        f"{radio['fps']:.2f} fps, gap p99 {radio['p99_gap_ms']:.1f} ms, worst "
        f"{radio['worst_gap_ms']:.1f} ms, underruns {radio['underruns']}, "
        f"playing after {radio['first_clip_s']:.1f} s"
    )
    print(
        f"throughput: model thread busy {100 * busy:.0f} %, {rate:.2f} clips/s vs "
        f"{s_rate:.2f} serial ({rate / s_rate:.2f} x), post ceiling {ceiling:.2f} clips/s, "
        f"radio worst gap {radio['worst_gap_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
