"""Checks a request once, where it enters (a slash command, the CLI, the radio), so that
everything after can trust it; each rejection is a sentence the person can act on.

Validation is cheap on purpose (no model, no decoding): whether an upload is really audio is
found out when it is decoded, and that failure is reported as ``InvalidRequest`` too.

Importing this module costs no torch: the bot (which must not hold tensors) calls the same
gate before it writes a job row.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from generation.masks import SHIPPED_MASKS
from generation.schedule import LATENT_FACTOR, canonical_scheduler
from generation.types import MAX_SEED, Endpoint, GenerationRequest, InvalidRequest, Mode

MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MIN_WIDTH = 128
MAX_WIDTH = 2048
MAX_TRANSITION_CLIPS = 12
WIDTH_MULTIPLE = LATENT_FACTOR * 8  # the VAE's factor times the UNet's three halvings
NEEDS_END = frozenset({Mode.BLEND, Mode.RADIO})
NEEDS_SOURCE = {
    Mode.EXTEND: "the clip to continue (its raw spectrogram PNG)",
    Mode.REMIX: "an audio file to remix",
    Mode.VARIATION: "the clip to vary (its raw spectrogram PNG)",
}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidRequest(f"{name} must be a number, not {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRequest(f"{name} must be a finite number.")
    return number


def _bounded(value: Any, name: str, low: float, high: float, *, open_low: bool = False) -> float:
    number = _number(value, name)
    if number > high or number < low or (open_low and number == low):
        bracket = "(" if open_low else "["
        raise InvalidRequest(f"{name} must be in {bracket}{low:g}, {high:g}], got {number:g}.")
    return number


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidRequest(f"{name} must be a whole number, not {type(value).__name__}.")
    number = int(value)
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}, got {number}.")
    return number


# Bidirectional embeddings, overrides and isolates: they reorder the text around them when
# it is posted (U+202E shows "3pm.exe" as "exe.mp3"), and a prompt never needs them.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """User text made safe to store and post: control characters become spaces, bidi
    controls go, whitespace collapses; ``""`` when no visible character is left.

    Zero-width and other format characters are kept inside visible text (emoji sequences
    need ZWJ) but a text made only of them is empty: it would post as nothing at all.
    """
    spaced = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch for ch in _BIDI_CONTROLS.sub("", value)
    )
    text = " ".join(spaced.split())
    if not any(unicodedata.category(ch) not in ("Cf", "Zs", "Mn", "Me") for ch in text):
        return ""
    return text


def _prompt(value: Any, name: str, max_chars: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"The {name} must be text, not {type(value).__name__}.")
    text = clean_text(value)
    if not text and not allow_empty:
        raise InvalidRequest(
            f"The {name} is empty: describe the music you want, e.g. 'lofi beat, warm piano'."
        )
    if len(text) > max_chars:
        raise InvalidRequest(
            f"The {name} is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Keep the words that matter most."
        )
    return text


def _endpoint(endpoint: Any, prefix: str, max_chars: int) -> Endpoint:
    """``prefix`` is "" for a single prompt, "start " or "end " for a blend's two."""
    if not isinstance(endpoint, Endpoint):
        raise InvalidRequest(f"The {prefix}prompt and seed are missing.")
    return Endpoint(
        prompt=_prompt(endpoint.prompt, f"{prefix}prompt", max_chars),
        seed=_integer(endpoint.seed, f"The {prefix}seed", 0, MAX_SEED),
        strength=_bounded(endpoint.strength, f"The {prefix}strength", 0.0, 1.0, open_low=True),
        guidance=_bounded(endpoint.guidance, f"The {prefix}guidance", 0.0, MAX_GUIDANCE),
    )


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or Path(spec).suffix != ""


def _check_file(spec: str, what: str) -> None:
    path = Path(spec).expanduser()
    if not path.exists():
        raise InvalidRequest(f"The {what} '{spec}' was not found.")
    if not path.is_file():
        raise InvalidRequest(f"The {what} '{spec}' is not a file.")
    if path.stat().st_size == 0:
        raise InvalidRequest(f"The {what} '{spec}' is empty.")


def _seed_image(spec: Any, mode: Mode) -> str | None:
    if spec is None:
        if mode in NEEDS_SOURCE:
            raise InvalidRequest(f"A {mode.value} needs {NEEDS_SOURCE[mode]}.")
        return None
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidRequest("The seed image must be a seed name or a file path.")
    text = spec.strip()
    if mode in NEEDS_SOURCE or _looks_like_path(text):
        _check_file(text, "audio file" if mode is Mode.REMIX else "seed image")
        return text
    names = _seed_names()
    if text not in names:
        raise InvalidRequest(
            f"There is no seed image called '{text}'. Choose one of: {', '.join(sorted(names))}, "
            "or give a PNG or audio file."
        )
    return text


def _seed_names() -> frozenset[str]:
    from generation.seeds import SEED_IMAGE_NAMES

    return frozenset(SEED_IMAGE_NAMES)


def validate_request(
    request: GenerationRequest, *, max_prompt_chars: int, check_sources: bool = True
) -> GenerationRequest:
    """The request with prompts tidied and names canonical, or ``InvalidRequest`` saying why.

    Prompts longer than CLIP's 77 tokens but under ``max_prompt_chars`` are accepted; the
    pipeline embeds them in 75-token chunks as Riffusion does. ``check_sources=False`` leaves
    the seed image and mask alone: the bot checks before an upload is even downloaded, and
    the engine checks again with the files in place.
    """
    if not isinstance(request, GenerationRequest):
        raise InvalidRequest("Not a generation request.")
    try:
        mode = Mode(request.mode)
    except ValueError as error:
        raise InvalidRequest(f"Unknown mode '{request.mode}'.") from error
    start = _endpoint(request.start, "start " if request.end is not None else "", max_prompt_chars)
    end = None
    if request.end is not None:
        end = _endpoint(request.end, "end ", max_prompt_chars)
    elif mode in NEEDS_END:
        raise InvalidRequest(f"A {mode.value} needs two prompts: where to start and where to end.")
    if not isinstance(request.scheduler, str):
        raise InvalidRequest("The scheduler must be a name such as 'pndm' or 'dpm++'.")
    width = _integer(request.width, "The width", MIN_WIDTH, MAX_WIDTH)
    if width % WIDTH_MULTIPLE:
        raise InvalidRequest(f"The width must be a multiple of {WIDTH_MULTIPLE} columns.")
    clips = _integer(request.clips, "The number of clips", 1, MAX_TRANSITION_CLIPS)
    if clips > 1 and mode is not Mode.BLEND:
        raise InvalidRequest("Only a blend can be a transition track of several clips.")
    seed_image = _seed_image(request.seed_image, mode) if check_sources else request.seed_image
    mask = request.mask
    if mask is not None and check_sources:
        if not isinstance(mask, str) or not mask.strip():
            raise InvalidRequest("The mask must be a mask name or a PNG path.")
        mask = mask.strip()
        if seed_image is None:
            raise InvalidRequest("A mask keeps part of a seed image, so it needs a seed image.")
        if mask not in SHIPPED_MASKS:
            _check_file(mask, "mask")
    return replace(
        request,
        mode=mode,
        start=start,
        end=end,
        alpha=_bounded(request.alpha, "Alpha", 0.0, 1.0),
        negative_prompt=_prompt(
            request.negative_prompt, "negative prompt", max_prompt_chars, allow_empty=True
        ),
        steps=_integer(request.steps, "Steps", 1, MAX_STEPS),
        scheduler=canonical_scheduler(request.scheduler),
        seed_image=seed_image,
        mask=mask,
        width=width,
        extend_keep=_keep(request.extend_keep),
        clips=clips,
    )


def _keep(value: Any) -> float:
    keep = _number(value, "extend_keep")
    if not 0.0 < keep < 1.0:
        raise InvalidRequest(
            f"extend_keep is the share of the old clip kept, in (0, 1); got {keep:g}."
        )
    return keep
