"""The radio's walk through prompt and seed space: Riffusion's web-app logic as a pure function.

Riffusion's app plays forever by asking for clips along a path of interpolations. Each
*segment* goes from one endpoint to the next in alpha steps of 0.25 (alpha 0 is skipped
because it equals alpha 1 of the previous segment), so every segment is four clips. When
nobody asks for anything it walks the seed (``(P, s) -> (P, s + 1)``); when a prompt is queued
it morphs into it at a fixed seed (``(P_old, s) -> (P_new, s)``) starting at the next
rollover. The end point of one segment is exactly the start point of the next, so the latent
path never jumps and neighbouring clips sound alike. Keeping this pure (state in, request and
new state out) makes the order of morphs testable without a model, and the state is all a
restart needs to resume where the radio was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from generation.types import MAX_SEED, Endpoint, GenerationRequest, InvalidRequest, Mode

ALPHA_STEP = 0.25
#: The app wraps when alpha exceeds 1 + this, so that float error never skips alpha 1.0.
ROLLOVER_SLACK = 0.001
MAX_UP_NEXT = 8
MAX_PROMPT_CHARS = 400
#: What plays when a radio is started without a prompt (Discord's ``/radio start``, the CLI).
DEFAULT_PROMPT = "lofi hip hop beat, chill, warm rhodes"


@dataclass(frozen=True)
class RadioSettings:
    """What stays the same for every clip of one radio (the app sends these with each request)."""

    strength: float = 0.75
    guidance: float = 7.0
    steps: int = 50
    seed_image: str | None = "og_beat"
    negative_prompt: str = ""
    scheduler: str = "pndm"
    alpha_step: float = ALPHA_STEP

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha_step <= 1.0:
            raise InvalidRequest("The radio's alpha step must be above 0 and at most 1.")
        if self.steps < 1:
            raise InvalidRequest("The radio needs at least one denoising step.")


@dataclass(frozen=True)
class RadioState:
    """Where the walk is: enough to make the next request, and to resume after a restart.

    ``alpha`` is the alpha of the clip made last in the current segment (0.0 before the first
    clip). ``target`` is the prompt the current segment morphs into (the app's TRANSITION
    state) or ``None`` for a seed walk (SAME_PROMPT). ``up_next`` are prompts waiting for a
    rollover, in the order they were asked for. ``last_job_id`` is the job of the clip made
    last, so the next clip's job names it as its parent, across a restart too.
    """

    prompt: str
    seed: int
    alpha: float = 0.0
    target: str | None = None
    up_next: tuple[str, ...] = ()
    settings: RadioSettings = field(default_factory=RadioSettings)
    clip_index: int = 0
    last_job_id: str | None = None
    next_seed: int | None = None
    """Where a seed walk goes instead of ``seed + 1`` (set by "New seed"); cleared at rollover."""

    @property
    def transitioning(self) -> bool:
        return self.target is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["up_next"] = list(self.up_next)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RadioState:
        values = dict(data)
        values["up_next"] = tuple(values.get("up_next", ()))
        values["settings"] = RadioSettings(**dict(values.get("settings") or {}))
        return cls(**values)


def checked_radio_prompt(prompt: str) -> str:
    """One line of text the model can use, or a clear refusal."""
    text = " ".join(prompt.split())
    if not text:
        raise InvalidRequest("The prompt is empty: tell the radio what to play.")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is too long ({len(text)} characters, the most is {MAX_PROMPT_CHARS})."
        )
    return text


def initial_state(prompt: str, seed: int, settings: RadioSettings | None = None) -> RadioState:
    """A radio that will start with a seed walk on ``prompt`` from ``seed``."""
    if not 0 <= seed <= MAX_SEED - 1:
        raise InvalidRequest(f"The radio's seed must be between 0 and {MAX_SEED - 1}.")
    return RadioState(
        prompt=checked_radio_prompt(prompt), seed=seed, settings=settings or RadioSettings()
    )


def queue_prompt(state: RadioState, prompt: str, *, max_up_next: int = MAX_UP_NEXT) -> RadioState:
    """Add a prompt to morph into after what is already queued."""
    text = checked_radio_prompt(prompt)
    waiting = {p.casefold() for p in (state.target, *state.up_next) if p}
    if text.casefold() in waiting:
        raise InvalidRequest("That prompt is already in the queue.")
    if len(state.up_next) >= max_up_next:
        raise InvalidRequest(
            f"{len(state.up_next)} prompts are already waiting; try again after the next morph."
        )
    return replace(state, up_next=(*state.up_next, text))


def _rollover(state: RadioState) -> RadioState:
    """End one segment: its end point becomes the next segment's start point."""
    if state.target is not None:
        # TRANSITION P_old -> P_new at seed s ended at (P_new, s): the window shifts.
        prompt, seed = state.target, state.seed
    else:
        # SAME_PROMPT (P, s) -> (P, s + 1) ended at (P, s + 1) (or at the chosen new seed).
        prompt, seed = state.prompt, _walk_end(state)
    target: str | None = None
    up_next = state.up_next
    if up_next:
        target, up_next = up_next[0], up_next[1:]
    return replace(state, prompt=prompt, seed=seed, target=target, up_next=up_next, next_seed=None)


def _walk_end(state: RadioState) -> int:
    return state.next_seed if state.next_seed is not None else (state.seed + 1) % MAX_SEED


def nearest_point(state: RadioState) -> tuple[str, int]:
    """The end of the current segment that the clip made last is closest to.

    A jump (skip, new seed) starts its morph there: an endpoint holds only a prompt and a seed,
    so the nearest one is the closest the new segment can start to what is heard now.
    """
    start, end = endpoints(state)
    return (start.prompt, start.seed) if state.alpha <= 0.5 else (end.prompt, end.seed)


def skip(state: RadioState, *, idle_seed: int) -> RadioState:
    """Leave the current segment now for the next wish (a morph from the current clip).

    With no wish waiting the radio walks to ``idle_seed`` instead, so a skip is always heard.
    """
    prompt, seed = nearest_point(state)
    if state.up_next:
        target, up_next = state.up_next[0], state.up_next[1:]
        return replace(
            state,
            prompt=prompt,
            seed=seed,
            alpha=0.0,
            target=target,
            up_next=up_next,
            next_seed=None,
        )
    return new_seed(state, idle_seed)


def new_seed(state: RadioState, seed: int) -> RadioState:
    """Walk from the current clip to ``seed`` now; a morph under way goes back to the queue."""
    if not 0 <= seed <= MAX_SEED - 1:
        raise InvalidRequest(f"The radio's seed must be between 0 and {MAX_SEED - 1}.")
    prompt, start = nearest_point(state)
    up_next = state.up_next
    if state.target is not None and state.target != prompt:
        up_next = (state.target, *up_next)
    return replace(
        state, prompt=prompt, seed=start, alpha=0.0, target=None, up_next=up_next, next_seed=seed
    )


def endpoints(state: RadioState) -> tuple[Endpoint, Endpoint]:
    """The current segment's two ends, as the app builds them."""
    s = state.settings
    start = Endpoint(state.prompt, state.seed, s.strength, s.guidance)
    if state.target is not None:
        end = Endpoint(state.target, state.seed, s.strength, s.guidance)
    else:
        end = Endpoint(state.prompt, _walk_end(state), s.strength, s.guidance)
    return start, end


def next_request(state: RadioState) -> tuple[GenerationRequest, RadioState]:
    """The next clip's request and the state after it (the app's per-clip alpha step)."""
    alpha = state.alpha + state.settings.alpha_step
    current = state
    if alpha > 1.0 + ROLLOVER_SLACK:
        alpha -= 1.0
        current = _rollover(state)
    alpha = round(alpha, 9)
    start, end = endpoints(current)
    s = current.settings
    request = GenerationRequest(
        mode=Mode.RADIO,
        start=start,
        end=end,
        alpha=alpha,
        negative_prompt=s.negative_prompt,
        steps=s.steps,
        scheduler=s.scheduler,
        seed_image=s.seed_image,
    )
    return request, replace(current, alpha=alpha, clip_index=current.clip_index + 1)


def describe(request: GenerationRequest) -> str:
    """A short human line for what a clip is: the morph and how far along it is."""
    end = request.end
    if end is None or (end.prompt == request.start.prompt and end.seed == request.start.seed):
        return f"{request.start.prompt} (seed {request.start.seed})"
    if end.prompt == request.start.prompt:
        return (
            f"{request.start.prompt} (seed {request.start.seed} -> {end.seed}, {request.alpha:.0%})"
        )
    return f"{request.start.prompt} -> {end.prompt} ({request.alpha:.0%}, seed {end.seed})"
