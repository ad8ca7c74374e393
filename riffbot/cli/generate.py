"""Generation commands: ``riff``, ``blend``, ``loop``, ``extend`` and ``remix``.

Each writes an MP3, the raw spectrogram PNG, a readable spectrogram PNG and a JSON record to
``--out``, with a progress bar. They build a ``GenerationRequest``, validate it, load the model
and run the same pipeline the bot uses, so what works here works in Discord.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generation.schedule import SCHEDULERS
from riffbot.cli.errors import RUNTIME, USAGE, check_output_dir, report

if TYPE_CHECKING:
    from generation.results import GenerationResult
    from generation.types import ClipFiles, GenerationRequest
    from riffbot.settings import Settings

MAX_TAKES = 4
REMIX_STRENGTH = 0.55  # keeps the upload's rhythm and contour; 0.75 mostly replaces it


def _shared(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("shared options")
    group.add_argument("--model", help="model folder, single file, hub id or 'tiny'")
    group.add_argument("--seed", type=int, help="noise seed (default: random, and printed)")
    group.add_argument("--steps", type=int, help="denoising steps (default from settings)")
    group.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    group.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    group.add_argument("--negative", default="", help="negative prompt: what to steer away from")
    group.add_argument(
        "--scheduler", choices=SCHEDULERS, help="sampler (default from settings: pndm, Riffusion's)"
    )
    group.add_argument(
        "--seed-image", help="seed name (og_beat...), PNG or audio file; 'none' for txt2img"
    )
    group.add_argument("--mask", help="keep part of the seed image: keep_hihat, or a PNG")
    group.add_argument(
        "--strength",
        type=float,
        help="how much of the seed image to redraw (default from settings)",
    )
    group.add_argument(
        "--guidance", type=float, help="classifier-free guidance scale (default from settings)"
    )
    group.add_argument("--width", type=int, default=512, help="columns (512 = 5.11 s)")
    group.add_argument(
        "--no-history",
        dest="history",
        action="store_false",
        help="do not add the clips to the job history database",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    riff = sub.add_parser("riff", help="make a clip from a text prompt")
    riff.add_argument("prompt", help="what the music should sound like; (word:1.3) weights")
    riff.add_argument(
        "--takes",
        type=int,
        default=1,
        choices=range(1, MAX_TAKES + 1),
        metavar="N",
        help=f"takes in one batch, seeds seed, seed+1, ... (1-{MAX_TAKES}, default 1)",
    )
    _shared(riff)
    riff.set_defaults(func=riff_command)

    blend = sub.add_parser("blend", help="blend two prompts, or a transition track between them")
    blend.add_argument("start", help="prompt at alpha 0")
    blend.add_argument("end", help="prompt at alpha 1")
    which = blend.add_mutually_exclusive_group()
    which.add_argument("--alpha", type=float, help="one clip at this point in [0, 1]")
    which.add_argument("--clips", type=int, help="a transition track of N clips, alpha 0 -> 1")
    blend.add_argument("--end-seed", type=int, help="seed at alpha 1 (default: seed + 1)")
    _shared(blend)
    blend.set_defaults(func=blend_command)

    loop = sub.add_parser("loop", help="make a clip that repeats without a seam")
    loop.add_argument("prompt")
    _shared(loop)
    loop.set_defaults(func=loop_command)

    extend = sub.add_parser("extend", help="continue a clip to the right")
    extend.add_argument("parent", type=Path, help="the clip's raw PNG or its JSON record")
    extend.add_argument("--prompt", help="prompt for the continuation (default: the parent's)")
    extend.add_argument(
        "--keep", type=float, default=0.5, help="share of the parent's clip kept as context"
    )
    _shared(extend)
    extend.set_defaults(func=extend_command)

    remix = sub.add_parser("remix", help="redraw an audio file in the style of a prompt")
    remix.add_argument("audio", type=Path, help="any ffmpeg-readable audio file")
    remix.add_argument("prompt")
    _shared(remix)
    remix.set_defaults(func=remix_command)


# --- request building ---------------------------------------------------------------


def _seed(args: argparse.Namespace) -> int:
    if args.seed is not None:
        return int(args.seed)
    return random.SystemRandom().randrange(0, 2**31)


def _request(
    args: argparse.Namespace,
    settings: Settings,
    mode: str,
    prompt: str,
    *,
    source: str | None = None,
    strength: float | None = None,
) -> GenerationRequest:
    """The request the flags describe; ``source`` (extend's parent, remix's upload) replaces
    the seed image, which otherwise comes from ``--seed-image`` or the settings."""
    from generation.types import Endpoint, GenerationRequest, Mode

    seed_image: str | None = source
    if source is None:
        chosen = args.seed_image if args.seed_image is not None else settings.default_seed_image
        seed_image = None if str(chosen).lower() in {"none", ""} else chosen
    if args.strength is not None:
        strength = args.strength
    return GenerationRequest(
        mode=Mode(mode),
        start=Endpoint(
            prompt=prompt,
            seed=_seed(args),
            strength=settings.default_strength if strength is None else strength,
            guidance=settings.default_guidance if args.guidance is None else args.guidance,
        ),
        negative_prompt=args.negative,
        steps=settings.default_steps if args.steps is None else args.steps,
        scheduler=args.scheduler or settings.default_scheduler,
        seed_image=seed_image,
        mask=args.mask,
        width=args.width,
    )


def _slug(text: str, limit: int = 32) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "clip"


def _stem(request: GenerationRequest) -> str:
    """``riff_lofi-beat_7``; a blend names both ends: ``blend_violin_to_techno_7-8``."""
    if request.end is not None:
        ends = f"{_slug(request.start.prompt, 20)}_to_{_slug(request.end.prompt, 20)}"
        return f"{request.mode.value}_{ends}_{request.start.seed}-{request.end.seed}"
    return f"{request.mode.value}_{_slug(request.start.prompt)}_{request.start.seed}"


# --- running ------------------------------------------------------------------------


class _Bar:
    """A tqdm bar over the UNet passes that will really run (``schedule.unet_passes``: 38 of
    50 steps at strength 0.75), opened before the first pass so its first rate is a real one;
    when the last pass lands it closes and names the stages that follow (decode, audio)."""

    def __init__(self, label: str, request: GenerationRequest) -> None:
        from generation.schedule import effective_strength, unet_passes

        self._label = label
        self._total = unet_passes(request)
        strength = effective_strength(request)
        self._note = (
            f"{self._total} UNet passes for {request.steps} steps at strength {strength:g}"
            if strength is not None
            else f"{self._total} UNet passes"
        )
        self._bar: Any = None

    def open(self) -> None:
        import importlib

        # imported by name: tqdm ships no type hints, and the bar is all we use of it
        tqdm = importlib.import_module("tqdm").tqdm
        print(f"{self._label}: {self._note}", file=sys.stderr)
        self._bar = tqdm(total=self._total, desc=self._label, unit="pass", file=sys.stderr)

    def __call__(self, step: int, total: int, preview: object) -> None:
        if self._bar is None:
            self.open()
        if total != self._bar.total:  # the pipeline knows best (extend, loops)
            self._bar.total = total
        self._bar.update(step - self._bar.n)
        if step >= total:
            self.close()
            print(f"{self._label}: VAE decode and audio…", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _fail(message: str, code: int = USAGE) -> int:
    return report(message, code)


def run_requests(
    args: argparse.Namespace,
    settings: Settings,
    requests: Sequence[GenerationRequest],
) -> int:
    """Validate, load the model, generate (batched where shapes allow), write the files."""
    from generation.types import GenerationError, InvalidRequest
    from generation.validate import validate_request

    try:
        checked = [
            validate_request(r, max_prompt_chars=settings.max_prompt_chars) for r in requests
        ]
    except InvalidRequest as error:
        return _fail(str(error))
    check_output_dir(Path(args.out))  # before the model loads, not after generating
    model = _load(args, settings)
    if isinstance(model, int):
        return model
    try:
        results = _generate(model, checked, settings)
    except GenerationError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        print("cancelled: nothing was written", file=sys.stderr)
        return 130
    written = []
    print(f"writing MP3 and PNGs to {args.out}…", file=sys.stderr)
    for result in results:
        try:
            files = _write(result, Path(args.out))
        except OSError as error:
            return _fail(
                f"Could not write the clip to {args.out}: {error.strerror or error}", RUNTIME
            )
        _report(result, files)
        written.append((result.request, files))
    if getattr(model, "is_tiny", False):
        from generation.tiny import NOISE_NOT_MUSIC

        print(NOISE_NOT_MUSIC)  # once, however many takes
    if getattr(args, "history", True):
        from riffbot.cli.history import record_or_warn

        record_or_warn(
            settings,
            written,
            model_id=str(getattr(model, "model_id", args.model or settings.model)),
            parent_id=getattr(args, "parent_job", None),
            action=getattr(args, "job_action", None),
        )
    return 0


def _load(args: argparse.Namespace, settings: Settings) -> Any:
    from generation.types import ModelError
    from riffbot.wiring import load_model_from_settings

    try:
        return load_model_from_settings(settings, source=args.model, device=args.device)
    except ModelError as error:
        return _fail(str(error))


def _generate(
    model: Any, requests: Sequence[GenerationRequest], settings: Settings
) -> list[GenerationResult]:
    from generation.pipeline import batch_key, generate_batch
    from generation.pipeline_cache import PipelineCache

    cache = PipelineCache()
    groups: dict[object, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(batch_key(request), []).append(index)
    results: dict[int, GenerationResult] = {}
    for number, indices in enumerate(groups.values(), start=1):
        label = f"{requests[indices[0]].mode.value}"
        if len(groups) > 1:
            label += f" {number}/{len(groups)}"
        bar = _Bar(label, requests[indices[0]])
        bar.open()
        try:
            batch = generate_batch(
                model,
                [requests[i] for i in indices],
                on_step=bar,
                cache=cache,
                max_audio_seconds=settings.max_audio_seconds,
            )
        finally:
            bar.close()
        results.update(zip(indices, batch, strict=True))
    return [results[i] for i in range(len(requests))]


def _write(result: GenerationResult, out: Path) -> ClipFiles:
    from generation.outputs import write_outputs

    return write_outputs(result, out, _stem(result.request))


def _report(result: GenerationResult, files: ClipFiles) -> None:
    request = result.request
    seeds = f"seed {request.start.seed}"
    if request.end is not None:
        seeds = f"seeds {request.start.seed} -> {request.end.seed}"
    print(f"{seeds}, {files.duration_s:.2f} s of audio")
    for note in result.notes:
        print(f"note: {note}")
    for path in (files.mp3, files.raw_png, files.picture_png, files.params_json):
        if path is not None:
            print(f"wrote {path}")
    shown = ("text", "vae_encode", "denoise", "vae_decode", "audio", "total")
    timings = result.timings
    print("timings: " + ", ".join(f"{k} {timings[k]:.2f} s" for k in shown if k in timings))


# --- commands -----------------------------------------------------------------------


def riff_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.types import MAX_SEED

    first = _request(args, settings, "riff", args.prompt)
    takes = [
        replace(first, start=replace(first.start, seed=(first.start.seed + i) % (MAX_SEED + 1)))
        for i in range(args.takes)
    ]
    return run_requests(args, settings, takes)


def loop_command(args: argparse.Namespace, settings: Settings) -> int:
    return run_requests(args, settings, [_request(args, settings, "loop", args.prompt)])


def blend_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.types import Endpoint

    base = _request(args, settings, "blend", args.start)
    end_seed = args.end_seed if args.end_seed is not None else (base.start.seed + 1) % 2**32
    request = replace(base, end=replace(base.start, prompt=args.end, seed=end_seed))
    assert isinstance(request.end, Endpoint)
    if args.clips is None:
        return run_requests(
            args, settings, [request.with_alpha(0.5 if args.alpha is None else args.alpha)]
        )
    if args.clips < 2:
        return _fail("A transition track needs at least 2 clips (--clips 2 or more).")
    return run_requests(args, settings, [replace(request, clips=args.clips)])


def extend_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.outputs import raw_png_from_record
    from generation.types import InvalidRequest

    parent: Path = args.parent
    prompt = args.prompt
    record: dict[str, Any] = {}
    try:
        if parent.suffix.lower() == ".json":
            record = json.loads(parent.read_text(encoding="utf-8"))
            parent = raw_png_from_record(args.parent)
    except (OSError, ValueError, InvalidRequest) as error:
        return _fail(f"Could not read the clip record {args.parent}: {error}")
    if prompt is None:
        prompt = record.get("request", {}).get("start", {}).get("prompt")
    if not prompt:
        return _fail("Say what comes next with --prompt (or pass the clip's JSON record).")
    if args.seed is None and record:
        seed = record.get("request", {}).get("start", {}).get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            return _fail(
                f"The clip record {args.parent} has no usable seed ({seed!r}); pass --seed N."
            )
        args.seed = (seed + 1) % 2**32
    request = _request(args, settings, "extend", prompt, source=str(parent))
    return run_requests(args, settings, [replace(request, extend_keep=args.keep)])


def remix_command(args: argparse.Namespace, settings: Settings) -> int:
    request = _request(
        args, settings, "remix", args.prompt, source=str(args.audio), strength=REMIX_STRENGTH
    )
    return run_requests(args, settings, [request])
