"""The radio's alpha walk is Riffusion's: 4 clips a segment, seed walks, morphs in order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.radio_plan import (
    RadioSettings,
    RadioState,
    initial_state,
    next_request,
    queue_prompt,
)
from generation.types import Endpoint, GenerationRequest, InvalidRequest, Mode


def walk(state: RadioState, n: int) -> tuple[list[GenerationRequest], RadioState]:
    requests = []
    for _ in range(n):
        request, state = next_request(state)
        requests.append(request)
    return requests, state


def test_first_segment_is_a_seed_walk_in_quarter_steps() -> None:
    requests, _ = walk(initial_state("lofi beat", 10), 4)
    assert [r.alpha for r in requests] == [0.25, 0.5, 0.75, 1.0]
    for r in requests:
        assert r.mode is Mode.RADIO
        assert r.start == Endpoint("lofi beat", 10)
        assert r.end == Endpoint("lofi beat", 11)


def test_seed_walk_continues_from_the_end_point() -> None:
    requests, state = walk(initial_state("lofi beat", 10), 9)
    assert [r.start.seed for r in requests] == [10] * 4 + [11] * 4 + [12]
    assert requests[4].alpha == 0.25
    assert requests[3].end == requests[4].start
    assert state.seed == 12


def test_queued_prompt_morphs_at_the_next_rollover_at_a_fixed_seed() -> None:
    state = initial_state("jazz", 5)
    (r1,), state = walk(state, 1)
    state = queue_prompt(state, "metal")
    rest, state = walk(state, 11)
    seq = [r1, *rest]
    # The rest of the first segment is unchanged: the app only switches on rollover.
    assert all(r.end == Endpoint("jazz", 6) for r in seq[:4])
    assert all(r.start == Endpoint("jazz", 6) and r.end == Endpoint("metal", 6) for r in seq[4:8])
    assert all(r.start == Endpoint("metal", 6) and r.end == Endpoint("metal", 7) for r in seq[8:])
    assert state.target is None


def test_several_prompts_morph_one_after_another_in_order() -> None:
    state = initial_state("a", 0)
    for prompt in ("b", "c", "d"):
        state = queue_prompt(state, prompt)
    requests, _ = walk(state, 20)
    segments = [(r.start.prompt, r.end.prompt if r.end else None) for r in requests[::4]]
    assert segments == [("a", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "d")]
    # Morph segments keep the seed; only the final seed walk moves it.
    assert [r.start.seed for r in requests[::4]] == [0, 1, 1, 1, 1]
    assert requests[-1].end == Endpoint("d", 2)


def test_settings_reach_every_request() -> None:
    custom = RadioSettings(strength=0.6, guidance=5.0, steps=20, seed_image="agile")
    (r,), _ = walk(initial_state("x", 1, custom), 1)
    assert (r.start.strength, r.start.guidance, r.steps, r.seed_image) == (0.6, 5.0, 20, "agile")
    assert r.end is not None
    assert r.end.strength == 0.6


def test_state_round_trips_and_resumes_identically() -> None:
    state = queue_prompt(walk(initial_state("x", 3), 6)[1], "y")
    again = RadioState.from_dict(state.to_dict())
    assert again == state
    assert walk(again, 8)[0] == walk(state, 8)[0]


def test_uneven_alpha_step_wraps_like_the_app() -> None:
    requests, _ = walk(initial_state("x", 0, RadioSettings(alpha_step=0.3)), 5)
    assert [r.alpha for r in requests] == pytest.approx([0.3, 0.6, 0.9, 0.2, 0.5])
    assert requests[3].start.seed == 1


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 401])
def test_bad_prompts_are_refused_with_a_sentence(prompt: str) -> None:
    with pytest.raises(InvalidRequest, match=r"prompt"):
        queue_prompt(initial_state("x", 0), prompt)


def test_queue_is_bounded() -> None:
    state = initial_state("x", 0)
    for i in range(3):
        state = queue_prompt(state, f"p{i}", max_up_next=3)
    with pytest.raises(InvalidRequest, match="already waiting"):
        queue_prompt(state, "one more", max_up_next=3)


def test_bad_settings_and_seeds_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        RadioSettings(alpha_step=0)
    with pytest.raises(InvalidRequest):
        initial_state("x", -1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["p", "q", "r", "s"])), max_size=60))
def test_any_walk_is_continuous_and_morphs_in_order(ops: list[str | None]) -> None:
    """None = make a clip, a string = queue that prompt; the latent path never jumps."""
    state = initial_state("start", 100)
    queued: list[str] = []
    requests: list[GenerationRequest] = []
    for op in ops:
        if op is None:
            request, state = next_request(state)
            requests.append(request)
        elif len(state.up_next) < 8 and op not in (state.target, *state.up_next):
            state = queue_prompt(state, op)  # a prompt already waiting is refused (the guard)
            queued.append(op)
    for before, after in itertools.pairwise(requests):
        if after.alpha == 0.25:  # a new segment starts where the last one ended
            assert before.alpha == 1.0
            assert after.start == before.end
        else:
            assert (after.start, after.end) == (before.start, before.end)
            assert after.alpha == pytest.approx(before.alpha + 0.25)
    # A morph segment keeps its seed; a seed walk moves it by one.
    morphs = [r.end.prompt for r in requests[::4] if r.end and r.end.seed == r.start.seed]
    assert morphs == queued[: len(morphs)]
