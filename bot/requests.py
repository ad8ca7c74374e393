"""Turning what people type (or the job they reacted to) into a validated ``GenerationRequest``.

All checks that can refuse a request live here, in pure functions, so a refusal happens before
anything is written or queued and every entry point (commands, buttons, reactions, modals)
refuses the same things with the same words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from bot.config import BotConfig
from bot.store import JobRecord
from generation.types import MAX_SEED, Endpoint, GenerationRequest, InvalidRequest, Mode
from generation.validate import clean_text

REROLL = "reroll"
VARY = "vary"
EXTEND = "extend"
LOOP = "loop"
BLEND = "blend"
REMIX = "remix"
ACTIONS = (REROLL, VARY, EXTEND, LOOP, BLEND, REMIX)

VARY_STRENGTH = 0.35
CLIP_SECONDS = 5.11  # one 512-column clip
MIN_BLEND_SECONDS = 10
MAX_BLEND_SECONDS = 30
DEFAULT_BLEND_SECONDS = 20  # Riffusion's app morphs between prompts over 4 clips

AUDIO_SUFFIXES = frozenset({".mp3", ".wav", ".ogg", ".flac", ".m4a", ".opus", ".aac", ".webm"})
IMAGE_SUFFIXES = frozenset({".png"})

_JOB_REF = re.compile(r"^\s*#?\s*(\d{1,18})\s*$")


def new_seed(rng: random.Random) -> int:
    return rng.randrange(MAX_SEED + 1)


def checked_prompt(
    text: str, *, blocked_words: Iterable[str], max_chars: int, what: str = "prompt"
) -> str:
    """Tidy (``generation.validate.clean_text``) and refuse empty, over-long or blocked prompts.

    Named ``checked_`` rather than ``clean_``: ``clean_text`` only tidies, this may refuse.

    Blocked words match whole words, case-insensitively, so blocking "ass" does not refuse
    "bass"; a blocked phrase may contain spaces.
    """
    cleaned = clean_text(text or "")
    if not cleaned:
        raise InvalidRequest(f"The {what} is empty; describe the music you want.")
    if len(cleaned) > max_chars:
        raise InvalidRequest(
            f"The {what} is {len(cleaned)} characters long; the limit is {max_chars}."
        )
    lowered = cleaned.casefold()
    for word in blocked_words:
        word = word.strip().casefold()
        if word and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered):
            raise InvalidRequest(f"The {what} contains a word this server has blocked.")
    return cleaned


def parse_strength(text: str | None, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise InvalidRequest(f"{text[:10]!r} is not a number; use something like 0.5.") from None
    if not 0.05 <= value <= 1.0:
        raise InvalidRequest("Strength must be between 0.05 and 1.")
    return value


def parse_job_ref(text: str) -> str | None:
    """``#12``, ``12`` or `` # 12 `` name job 12; anything else is not a job reference."""
    match = _JOB_REF.match(text or "")
    return str(int(match.group(1))) if match else None


def check_seed_image(name: str | None, known: Sequence[str]) -> str | None:
    if name is None or name == "":
        return None
    if known and name not in known:
        shown = ", ".join(known[:10])
        raise InvalidRequest(f"There is no seed image called {name[:40]!r}. Try one of: {shown}.")
    return name


def check_upload(
    filename: str,
    size: int,
    content_type: str | None,
    *,
    max_bytes: int,
    allow_images: bool,
) -> str:
    """Refuse uploads by size and type before downloading them; returns ``"audio"``/``"image"``."""
    suffix = Path(filename).suffix.lower()
    kind = (content_type or "").split("/", 1)[0]
    if suffix in AUDIO_SUFFIXES or kind == "audio":
        found = "audio"
    elif allow_images and (suffix in IMAGE_SUFFIXES or content_type == "image/png"):
        found = "image"
    else:
        wanted = "an audio file or a PNG spectrogram" if allow_images else "an audio file"
        raise InvalidRequest(f"{filename[:60]!r} is not {wanted} (mp3, wav, ogg, flac, m4a).")
    if size > max_bytes:
        raise InvalidRequest(
            f"{filename[:60]!r} is {size / 2**20:.1f} MiB; "
            f"the limit is {max_bytes / 2**20:.0f} MiB."
        )
    return found


def riff_request(
    config: BotConfig,
    *,
    prompt: str,
    rng: random.Random,
    blocked_words: Sequence[str] = (),
    negative: str | None = None,
    seed: int | None = None,
    seed_image: str | None = None,
    steps: int | None = None,
    strength: float | None = None,
    loop: bool = False,
    guidance: float | None = None,
    scheduler: str | None = None,
) -> GenerationRequest:
    if steps is not None and not (
        isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= config.max_steps
    ):
        raise InvalidRequest(f"Steps must be between 1 and {config.max_steps}, got {steps}.")
    limits = {"blocked_words": blocked_words, "max_chars": config.max_prompt_chars}
    start = Endpoint(
        prompt=checked_prompt(prompt, **limits),  # type: ignore[arg-type]
        seed=new_seed(rng) if seed is None else seed,
        strength=config.default_strength if strength is None else strength,
        guidance=config.default_guidance if guidance is None else guidance,
    )
    negative_prompt = (
        checked_prompt(negative, what="negative prompt", **limits)  # type: ignore[arg-type]
        if negative and negative.strip()
        else ""
    )
    return GenerationRequest(
        mode=Mode.LOOP if loop else Mode.RIFF,
        start=start,
        negative_prompt=negative_prompt,
        steps=config.default_steps if steps is None else steps,
        scheduler=scheduler or config.default_scheduler,
        seed_image=seed_image if seed_image is not None else config.default_seed_image,
        width=config.clip_width,
    )


def blend_request(
    config: BotConfig,
    start: Endpoint,
    end: Endpoint,
    *,
    seconds: float | None = None,
    steps: int | None = None,
) -> GenerationRequest:
    """A transition track from ``start`` to ``end``: clips at evenly spaced alphas, joined
    end to end; its length in seconds sets how many clips."""
    chosen = DEFAULT_BLEND_SECONDS if seconds is None else seconds
    chosen = min(max(chosen, MIN_BLEND_SECONDS), MAX_BLEND_SECONDS)
    return GenerationRequest(
        mode=Mode.BLEND,
        start=start,
        end=end,
        steps=config.default_steps if steps is None else steps,
        scheduler=config.default_scheduler,
        seed_image=config.default_seed_image,
        width=config.clip_width,
        clips=max(2, round(chosen / CLIP_SECONDS)),
    )


def remix_request(
    config: BotConfig,
    *,
    audio_path: Path,
    prompt: str,
    rng: random.Random,
    blocked_words: Sequence[str] = (),
    strength: float | None = None,
    seed: int | None = None,
) -> GenerationRequest:
    start = Endpoint(
        prompt=checked_prompt(
            prompt, blocked_words=blocked_words, max_chars=config.max_prompt_chars
        ),
        seed=new_seed(rng) if seed is None else seed,
        strength=0.5 if strength is None else strength,
        guidance=config.default_guidance,
    )
    return GenerationRequest(
        mode=Mode.REMIX,
        start=start,
        steps=config.default_steps,
        scheduler=config.default_scheduler,
        seed_image=str(audio_path),
        width=config.clip_width,
    )


def parent_image(parent: JobRecord) -> str:
    if parent.files is None or not parent.files.raw_png.exists():
        raise InvalidRequest(
            f"Job {parent.display_id} has no finished clip to work from "
            "(it is still running, failed, or its files were cleaned up)."
        )
    return str(parent.files.raw_png)


def derive(
    config: BotConfig,
    parent: JobRecord,
    action: str,
    *,
    rng: random.Random,
    partner: JobRecord | None = None,
    prompt: str | None = None,
    strength: float | None = None,
    blocked_words: Sequence[str] = (),
) -> GenerationRequest:
    """The request a remix action makes from an earlier job (reroll, vary, extend, ...).

    Blocked words are checked again: a guild may have blocked a word after the parent was made.
    """
    base = parent.request
    checked_prompt(base.start.prompt, blocked_words=blocked_words, max_chars=10**6)
    if action == REROLL:
        end = replace(base.end, seed=new_seed(rng)) if base.end is not None else None
        return replace(base, start=replace(base.start, seed=new_seed(rng)), end=end)
    if action == VARY:
        seed = (base.start.seed + 1) % (MAX_SEED + 1)
        return replace(
            base,
            mode=Mode.VARIATION,
            start=replace(base.start, seed=seed, strength=VARY_STRENGTH),
            end=None,
            alpha=0.0,
            seed_image=parent_image(parent),
        )
    if action == EXTEND:
        return replace(
            base,
            mode=Mode.EXTEND,
            start=replace(base.start, seed=(base.start.seed + 1) % (MAX_SEED + 1)),
            end=None,
            alpha=0.0,
            seed_image=parent_image(parent),
        )
    if action == LOOP:
        return replace(base, mode=Mode.LOOP, end=None, alpha=0.0)
    if action == BLEND:
        if partner is None:
            raise InvalidRequest("Pick another of your jobs to blend with.")
        checked_prompt(partner.request.start.prompt, blocked_words=blocked_words, max_chars=10**6)
        return blend_request(config, base.start, partner.request.start, steps=base.steps)
    if action == REMIX:
        new_prompt = checked_prompt(
            prompt if prompt is not None else base.start.prompt,
            blocked_words=blocked_words,
            max_chars=config.max_prompt_chars,
        )
        chosen = config.default_strength if strength is None else strength
        if not 0.0 < chosen <= 1.0:
            raise InvalidRequest("Strength must be above 0 and at most 1.")
        return replace(
            base,
            mode=Mode.RIFF,
            start=Endpoint(new_prompt, new_seed(rng), chosen, base.start.guidance),
            end=None,
            alpha=0.0,
            seed_image=parent_image(parent),
        )
    raise InvalidRequest(f"Unknown action {action[:20]!r}.")
