"""Generation cost per stage, and seconds per clip at Riffusion's defaults.

CPU mode (default): the tiny model (a few repeats after a warm-up) and an SD1.5-sized model with
random weights (same FLOPs as the real checkpoint, a couple of steps only: one UNet pass at
batch 2 takes about 10 s on this 2-core box), each stage timed by the pipeline itself. The CPU
seconds-per-clip figure is extrapolated from the measured SD1.5 stages to the default number of
UNet passes and says so.

CUDA mode (``--device cuda``): SD1.5-sized random weights in fp16 (or ``--model`` for a real
checkpoint), 512x512, img2img from og_beat at strength 0.75, 50 PNDM steps, CFG 7, the way the
engine runs them (one ``PipelineCache``, so og_beat is VAE-encoded once, prompts are new every
clip); seconds per clip at batch 1, 2 and 4, phase reconstruction in torch on the GPU (the
pipeline's default there; ``--phase numpy`` for the CPU path). Two figures: the whole clip
(model + post-processing, as one request alone sees it) and the model's part only (what the
engine's throughput is bound by once post-processing runs beside it in its pool). MP3
encoding is reported but not counted: the engine writes files off the model's thread.

``--batched`` runs that same CUDA code path on the CPU (e.g. ``--device cpu --model tiny
--batched --phase cpu --steps 10``), so it can be checked on a machine without a GPU.

Usage::

    .venv/bin/python benchmarks/generate.py                # tiny + SD1.5-sized on CPU
    .venv/bin/python benchmarks/generate.py --skip-sd15    # tiny only (seconds)
    python benchmarks/generate.py --device cuda            # on a GPU machine

Last line: ``generate: <device> <s_per_clip> s/clip, real-time factor <x>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLIP_SECONDS = 5.11  # 512 columns at 10 ms
STAGES = ("text", "vae_encode", "denoise_per_step", "vae_decode", "audio", "mp3")
PROMPTS = ("lofi hip hop piano", "funky bass groove", "ambient pads", "jazz drums", "techno")


def build_sd15_random(device: str, dtype: str) -> Any:
    """An SD1.5-shaped pipeline with random weights, built in memory from the shipped configs."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from generation.clip_tokenizer import write_tokenizer_files
    from generation.model_device import place, resolve_device, resolve_dtype
    from generation.models import LoadedModel
    from generation.tiny import assemble_pipeline, sd15_config_dir

    config = sd15_config_dir()
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(config / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(config / "text_encoder"))
    tokenizer_dir = write_tokenizer_files(Path(tempfile.mkdtemp()) / "tokenizer")
    pipe = assemble_pipeline(unet, vae, text, tokenizer_dir)
    pipe.to(dtype=torch_dtype)
    place(pipe, target)  # as generation.models places a loaded model
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(
        pipe=pipe,
        model_id="sd15-random",
        revision=None,
        device=target,
        dtype=torch_dtype,
        is_tiny=False,
    )


def load(source: str, device: str, dtype: str, workdir: Path) -> Any:
    from generation.models import load_model

    if source == "sd15-random":
        return build_sd15_random(device, dtype)
    if source == "tiny":
        return load_model(
            "tiny", tiny_dir=workdir / "tiny", device=device, dtype=dtype, progress=False
        )
    return load_model(source, device=device, dtype=dtype, progress=False)


def requests(count: int, steps: int, first: int) -> list[Any]:
    """Riffusion's default request (og_beat, strength 0.75, CFG 7, PNDM), new prompt and seed."""
    from generation.types import Endpoint, GenerationRequest, Mode

    return [
        GenerationRequest(
            mode=Mode.RIFF,
            start=Endpoint(f"{PROMPTS[(first + i) % len(PROMPTS)]} {first + i}", seed=first + i),
            steps=steps,
        )
        for i in range(count)
    ]


def sync(model: Any) -> None:
    import torch

    if model.device.type == "cuda":
        torch.cuda.synchronize()


def run(
    model: Any, batch: Sequence[Any], cache: Any, out: Path | None, phase: str = "auto"
) -> tuple[float, dict[str, float]]:
    """One batch through ``generate_batch``; wall seconds and the first result's stage times."""
    from generation.outputs import write_outputs
    from generation.pipeline import generate_batch

    sync(model)
    started = time.perf_counter()
    results = generate_batch(model, batch, cache=cache, phase=phase)
    sync(model)
    wall = time.perf_counter() - started
    timings = dict(results[0].timings)
    # the model's thread's share of the batch: the shared denoise + every request's own stages
    own = ("text", "vae_encode", "vae_decode")
    timings["model_s"] = timings["denoise"] + sum(
        r.timings.get(k, 0.0) for r in results for k in own
    )
    if out is not None:
        files = write_outputs(results[0], out, f"bench{time.monotonic_ns()}")
        timings["mp3"] = files.timings["mp3"]
    return wall, timings


def median_stages(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(s) for s in samples))
    return {k: statistics.median(s[k] for s in samples) for k in keys}


def show(name: str, steps: int, stages: dict[str, float]) -> None:
    passes = int(stages.get("unet_passes", 0))
    print(f"\n{name}: {steps} steps requested, {passes} UNet passes (img2img at 0.75)")
    for stage in STAGES:
        if stage in stages:
            print(f"  {stage:<18} {stages[stage]:8.3f} s")
    print(f"  {'picture':<18} {stages.get('picture', 0.0):8.3f} s  (readable spectrogram PNG)")
    print(f"  {'total':<18} {stages.get('total', 0.0):8.3f} s  (without MP3)")


def default_passes(measured_steps: int, measured_passes: float) -> int:
    """UNet passes at 50 steps, strength 0.75, with the scheduler's own extra passes (PNDM
    runs one more than the img2img slice) taken from the measured run."""
    from generation.schedule import denoise_start

    def sliced(steps: int) -> int:
        return steps - denoise_start(steps, 0.75)

    return sliced(50) + int(measured_passes) - sliced(measured_steps)


def per_clip_estimate(stages: dict[str, float], passes: int, cached_seed: bool) -> float:
    """Seconds per clip at ``passes`` UNet passes from measured stages (no MP3: overlapped)."""
    fixed = stages["text"] + stages["vae_decode"] + stages["audio"]
    if not cached_seed:
        fixed += stages["vae_encode"]
    return fixed + passes * stages["denoise_per_step"]


def cpu(args: argparse.Namespace, workdir: Path) -> tuple[str, float]:
    import torch

    from generation.pipeline_cache import PipelineCache

    loadavg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"load average {loadavg} on {os.cpu_count()} cores (a shared box: higher load, slower)")
    from generation.tiny import make_tiny

    make_tiny(workdir / "tiny")
    model = load("tiny", "cpu", "float32", workdir)
    run(model, requests(1, args.tiny_steps, 0), PipelineCache(), None)  # warm-up (JIT, caches)
    samples = [
        run(model, requests(1, args.tiny_steps, 10 + i), PipelineCache(), workdir / "out")[1]
        for i in range(args.repeats)
    ]
    tiny = median_stages(samples)
    show(f"tiny model, median of {args.repeats}", args.tiny_steps, tiny)
    passes = default_passes(args.tiny_steps, tiny["unet_passes"])
    tiny_clip = per_clip_estimate(tiny, passes, cached_seed=True)
    if args.skip_sd15:
        print(f"\ntiny model at the defaults ({passes} passes, og_beat cached): {tiny_clip:.2f} s")
        return "cpu-tiny", tiny_clip
    del model
    started = time.perf_counter()
    big = load(args.model or "sd15-random", "cpu", args.dtype, workdir)
    print(
        f"\nSD1.5-sized model built/loaded in {time.perf_counter() - started:.1f} s ({args.dtype})"
    )
    _, sd15 = run(big, requests(1, args.sd15_steps, 100), PipelineCache(), workdir / "out")
    show("SD1.5-sized model, 1 run", args.sd15_steps, sd15)
    passes = default_passes(args.sd15_steps, sd15["unet_passes"])
    clip = per_clip_estimate(sd15, passes, cached_seed=True)
    print(
        f"\nSD1.5 on this CPU at the defaults, extrapolated to {passes} UNet passes "
        f"(og_beat latent cached): {clip:.0f} s per clip"
    )
    return "cpu", clip


def batched(args: argparse.Namespace, workdir: Path) -> tuple[str, float]:
    """The GPU figures: seconds per clip by batch size, torch phase path on the device."""
    import torch

    from generation.pipeline import phase_device
    from generation.pipeline_cache import PipelineCache

    if args.device == "cuda":
        name = torch.cuda.get_device_name(0)
        print(f"CUDA: {name}, torch {torch.__version__}, dtype {args.dtype}")
    else:
        name = "cpu-batched"
        print(f"the CUDA code path on the CPU, torch {torch.__version__}, dtype {args.dtype}")
    if args.model == "tiny":
        from generation.tiny import make_tiny

        make_tiny(workdir / "tiny")
    model = load(args.model or "sd15-random", args.device, args.dtype, workdir)
    where = phase_device(model, args.phase)
    print(f"phase reconstruction: {'torch on ' + where if where else 'numpy on the CPU'}")
    cache = PipelineCache()  # as in the engine: og_beat encoded once, prompts new every clip
    seed = 1000
    per_clip: dict[int, float] = {}
    model_only: dict[int, float] = {}
    for size in args.batches:
        run(model, requests(size, args.steps, seed), cache, None, args.phase)  # warm-up
        seed += size
        walls, models = [], []
        for _ in range(args.repeats):
            batch = requests(size, args.steps, seed)
            wall, stages = run(model, batch, cache, workdir / "out", args.phase)
            seed += size
            walls.append(wall)
            models.append(stages["model_s"])
            if size == args.batches[0]:
                show(f"batch {size}", args.steps, stages)
        wall = statistics.median(walls)
        clip = per_clip[size] = wall / size
        model_clip = model_only[size] = statistics.median(models) / size
        print(
            f"batch {size}: {wall:.3f} s per batch, {clip:.3f} s/clip, {1 / clip:.2f} clips/s, "
            f"real-time factor {CLIP_SECONDS / clip:.1f}; model's part {model_clip:.3f} s/clip "
            f"(real-time factor {CLIP_SECONDS / model_clip:.1f} with post-processing beside it)"
        )
    best = min(model_only, key=lambda b: model_only[b])
    print(
        f"best throughput: batch {best}, real-time factor {CLIP_SECONDS / per_clip[best]:.1f} "
        f"whole clips, {CLIP_SECONDS / model_only[best]:.1f} model's part"
    )
    return name.replace(" ", "-"), per_clip[args.batches[0]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default=None, help="default: float32 on CPU, float16 on CUDA")
    parser.add_argument("--model", default=None, help="a real checkpoint instead of random SD1.5")
    parser.add_argument("--skip-sd15", action="store_true", help="CPU: the tiny model only")
    parser.add_argument("--tiny-steps", type=int, default=10)
    parser.add_argument("--sd15-steps", type=int, default=3, help="CPU: 3 steps = 2 UNet passes")
    parser.add_argument("--steps", type=int, default=50, help="CUDA: PNDM steps (Riffusion: 50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batched", action="store_true", help="the CUDA code path on --device")
    parser.add_argument(
        "--phase", default="auto", help="auto (torch on a GPU), numpy, or a torch device"
    )
    args = parser.parse_args(argv)
    args.dtype = args.dtype or ("float16" if args.device == "cuda" else "float32")
    with tempfile.TemporaryDirectory(prefix="riffbot-bench-") as tmp:
        use_batched = args.device == "cuda" or args.batched
        device, seconds = (batched if use_batched else cpu)(args, Path(tmp))
    print(f"generate: {device} {seconds:.3f} s/clip, real-time factor {CLIP_SECONDS / seconds:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
