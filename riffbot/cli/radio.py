"""``riffbot radio``: render the endless radio to a file, with the same walk and joins as Discord.

Useful to hear what a prompt sequence does before streaming it, and to check the radio's
transitions without a voice channel. ``--prompt`` may be given several times: the radio
starts on the first and morphs into each next one in order, a segment (four clips) apiece.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riffbot.cli.errors import check_output_file, report

if TYPE_CHECKING:
    from riffbot.settings import Settings

SYNTHETIC = "synthetic"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "radio",
        help="render the endless radio to a WAV or MP3 file",
        description="Render M minutes of the radio (Riffusion's alpha walk, crossfaded clips, "
        "48 kHz stereo) to FILE without Discord. Repeat --prompt to morph through prompts.",
    )
    parser.add_argument(
        "--prompt",
        action="append",
        help="what to play (repeat to morph); default: the radio's own lofi prompt",
    )
    parser.add_argument("--minutes", type=_positive_float, default=1.0, help="length (minutes)")
    parser.add_argument("--out", type=Path, required=True, help="output file, .wav or .mp3")
    parser.add_argument(
        "--model",
        help=f"model path, hub id, 'tiny', or '{SYNTHETIC}' (a stand-in tone generator, no model)",
    )
    parser.add_argument("--seed", type=int, default=None, help="starting seed (default: random)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps per clip")
    parser.add_argument("--seed-image", default=None, help="seed image name or PNG path")
    parser.add_argument("--strength", type=float, default=None, help="denoising strength")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale")
    parser.add_argument("--negative", default="", help="negative prompt")
    parser.add_argument("--scheduler", default=None, help="pndm (Riffusion's), dpm++, ddim...")
    parser.add_argument("--alpha-step", type=float, default=0.25, help="alpha per clip")
    parser.add_argument(
        "--crossfade", type=float, default=0.05, help="crossfade between clips (seconds)"
    )
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    parser.set_defaults(func=radio_command)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


CLIP_SECONDS = 5.11  # one 512-column clip


def expected_clips(seconds: float, crossfade_s: float) -> int:
    """About how many clips a render of ``seconds`` makes: each adds a clip less its
    crossfade (the bar's total; it is corrected to the real count at the end)."""
    return math.ceil(seconds / max(0.5, CLIP_SECONDS - crossfade_s))


class ClipBar:
    """One tqdm bar over the whole render, counted in clips, with tqdm's ETA; the prompt of
    the newest clip rides in the postfix instead of a line per clip."""

    def __init__(self, total: int) -> None:
        import importlib

        tqdm = importlib.import_module("tqdm").tqdm  # no type hints; the bar is all we use
        self._bar = tqdm(total=total, desc="radio", unit="clip", file=sys.stderr)

    def clip(self, index: int, description: str) -> None:
        if index > self._bar.total:
            self._bar.total = index
        self._bar.set_postfix_str(description[:60], refresh=False)
        self._bar.update(index - self._bar.n)

    def close(self) -> None:
        self._bar.total = self._bar.n  # the render is over: what was made is all of it
        self._bar.refresh()
        self._bar.close()


def radio_command(args: argparse.Namespace, settings: Settings) -> int:
    import random

    from generation.radio import pcm_to_mp3, pcm_to_wav, render_radio
    from generation.radio_plan import DEFAULT_PROMPT, RadioSettings, initial_state, queue_prompt
    from generation.radio_plan import describe as describe_request
    from generation.types import GenerationError
    from riffbot.wiring import loudness_policy

    suffix = args.out.suffix.lower()
    if suffix not in (".wav", ".mp3"):
        return report("--out must end in .wav or .mp3", 2)
    check_output_file(args.out)  # before minutes of generation, not after
    seed = args.seed if args.seed is not None else random.randrange(0, 2**31)
    try:
        radio_settings = RadioSettings(
            strength=args.strength if args.strength is not None else settings.default_strength,
            guidance=args.guidance if args.guidance is not None else settings.default_guidance,
            steps=args.steps if args.steps is not None else settings.default_steps,
            seed_image=args.seed_image or settings.default_seed_image,
            scheduler=args.scheduler or settings.default_scheduler,
            negative_prompt=args.negative,
            alpha_step=args.alpha_step,
        )
        prompts = args.prompt or [DEFAULT_PROMPT]
        state = initial_state(prompts[0], seed, radio_settings)
        for prompt in prompts[1:]:
            state = queue_prompt(state, prompt, max_up_next=len(prompts))
        generate = _generator(args, settings)
        bar = ClipBar(expected_clips(args.minutes * 60.0, args.crossfade))

        def progress(index: int, request: Any) -> None:
            bar.clip(index, describe_request(request))

        try:
            pcm, _ = render_radio(
                generate,
                state,
                args.minutes * 60.0,
                crossfade_s=args.crossfade,
                on_clip=progress,
                loudness=loudness_policy(settings),
            )
        finally:
            bar.close()
        data = pcm_to_mp3(pcm) if suffix == ".mp3" else pcm_to_wav(pcm)
    except GenerationError as exc:
        return report(str(exc), 1)
    from generation.outputs import staged

    with staged(args.out) as (temporary,):
        temporary.write_bytes(data)
    print(f"Wrote {args.minutes:g} min of radio (seed {seed}) to {args.out}")
    return 0


def _generator(args: argparse.Namespace, settings: Settings) -> Any:
    """request -> clip audio: the real pipeline, or the stand-in tone generator."""
    source = args.model or settings.model
    if source == SYNTHETIC:
        from generation.radio_sim import synth_clip

        class _Clip:
            def __init__(self, audio: Any) -> None:
                self.audio = audio
                self.sample_rate = 44_100

        return lambda request: _Clip(synth_clip(request))

    from generation.pipeline import generate
    from generation.pipeline_cache import PipelineCache
    from riffbot.wiring import load_model_from_settings

    model = load_model_from_settings(settings, source=source, device=args.device)
    cache = PipelineCache()
    return lambda request: generate(
        model, request, cache=cache, max_audio_seconds=settings.max_audio_seconds
    )
