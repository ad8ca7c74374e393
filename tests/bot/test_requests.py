"""Request building and validation: the refusals every entry point shares."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.requests import (
    ACTIONS,
    blend_request,
    check_seed_image,
    check_upload,
    checked_prompt,
    derive,
    parse_job_ref,
    riff_request,
)
from bot.store import JobRecord
from generation.types import MAX_SEED, ClipFiles, Endpoint, GenerationRequest, InvalidRequest, Mode


@pytest.fixture
def config(tmp_path: Path) -> BotConfig:
    return BotConfig(out_dir=tmp_path, max_prompt_chars=50)


def test_clean_prompt_collapses_whitespace_and_refuses_empty_and_long() -> None:
    assert checked_prompt("  lofi \n\t beat ", blocked_words=(), max_chars=20) == "lofi beat"
    with pytest.raises(InvalidRequest, match="empty"):
        checked_prompt(" \n ", blocked_words=(), max_chars=20)
    with pytest.raises(InvalidRequest, match="21 characters long; the limit is 20"):
        checked_prompt("x" * 21, blocked_words=(), max_chars=20)


@pytest.mark.parametrize(
    ("prompt", "blocked"),
    [("Heavy KAZOO solo", True), ("kazoo!", True), ("kazoos", False), ("bass", False)],
)
def test_blocked_words_match_whole_words_case_insensitively(prompt: str, blocked: bool) -> None:
    words = ("kazoo", "ass")
    if blocked:
        with pytest.raises(InvalidRequest, match="blocked"):
            checked_prompt(prompt, blocked_words=words, max_chars=100)
    else:
        assert checked_prompt(prompt, blocked_words=words, max_chars=100) == prompt


def test_blocked_phrases_may_contain_spaces() -> None:
    with pytest.raises(InvalidRequest):
        checked_prompt("some death metal", blocked_words=("death metal",), max_chars=100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("#12", "12"), ("12", "12"), (" # 7 ", "7"), ("#x", None), ("lofi", None)],
)
def test_job_references(text: str, expected: str | None) -> None:
    assert parse_job_ref(text) == expected


def test_seed_images_and_uploads_are_checked() -> None:
    assert check_seed_image("og_beat", ("og_beat",)) == "og_beat"
    assert check_seed_image(None, ("og_beat",)) is None
    with pytest.raises(InvalidRequest, match="no seed image called 'nope'"):
        check_seed_image("nope", ("og_beat",))
    assert check_upload("a.mp3", 10, None, max_bytes=100, allow_images=False) == "audio"
    assert check_upload("clip", 10, "audio/ogg", max_bytes=100, allow_images=False) == "audio"
    assert check_upload("s.png", 10, "image/png", max_bytes=100, allow_images=True) == "image"
    with pytest.raises(InvalidRequest, match="not an audio file"):
        check_upload("s.png", 10, "image/png", max_bytes=100, allow_images=False)
    with pytest.raises(InvalidRequest, match="the limit is"):
        check_upload("a.wav", 2 * 2**20, None, max_bytes=2**20, allow_images=False)


def test_riff_request_uses_given_values_or_defaults(config: BotConfig) -> None:
    rng = random.Random(1)
    explicit = riff_request(
        config, prompt="a", rng=rng, seed=5, steps=9, strength=0.5, loop=True, negative="b"
    )
    assert explicit.mode is Mode.LOOP
    assert explicit.start == Endpoint("a", 5, 0.5, config.default_guidance)
    assert (explicit.steps, explicit.negative_prompt) == (9, "b")
    default = riff_request(config, prompt="a", rng=rng)
    assert default.mode is Mode.RIFF
    assert 0 <= default.start.seed <= MAX_SEED
    assert default.seed_image == config.default_seed_image
    with pytest.raises(InvalidRequest, match="negative prompt contains"):
        riff_request(config, prompt="a", negative="kazoo", rng=rng, blocked_words=("kazoo",))


def _parent(tmp_path: Path, *, finished: bool = True) -> JobRecord:
    raw = tmp_path / "1.raw.png"
    raw.write_bytes(b"png")
    files = ClipFiles(raw, raw, raw, raw, 5.11) if finished else None
    request = GenerationRequest(Mode.RIFF, Endpoint("jazz", 100, 0.75, 7.0), steps=20)
    return JobRecord(id="1", request=request, user_id=1, guild_id=2, channel_id=3, files=files)


def test_derived_requests_per_action(config: BotConfig, tmp_path: Path) -> None:
    parent = _parent(tmp_path)
    partner = JobRecord(
        id="2",
        request=GenerationRequest(Mode.RIFF, Endpoint("rock", 7)),
        user_id=1,
        guild_id=2,
        channel_id=3,
    )
    rng = random.Random(3)
    made = {
        action: derive(config, parent, action, rng=rng, partner=partner, prompt="jazz, slower")
        for action in ACTIONS
    }
    assert made["reroll"].start.prompt == "jazz"
    assert made["reroll"].start.seed != 100
    assert made["vary"].mode is Mode.VARIATION
    assert made["vary"].start.seed == 101
    assert made["vary"].seed_image == str(tmp_path / "1.raw.png")
    assert made["extend"].mode is Mode.EXTEND
    assert made["extend"].seed_image == str(tmp_path / "1.raw.png")
    assert made["loop"].mode is Mode.LOOP
    assert made["loop"].start.seed == 100
    assert made["blend"].mode is Mode.BLEND
    assert made["blend"].end is not None
    assert made["blend"].end.prompt == "rock"
    assert made["remix"].start.prompt == "jazz, slower"
    assert made["remix"].seed_image is not None


def test_derive_refuses_unfinished_parents_and_newly_blocked_words(
    config: BotConfig, tmp_path: Path
) -> None:
    unfinished = _parent(tmp_path, finished=False)
    with pytest.raises(InvalidRequest, match="no finished clip"):
        derive(config, unfinished, "extend", rng=random.Random())
    with pytest.raises(InvalidRequest, match="blocked"):
        derive(config, _parent(tmp_path), "reroll", rng=random.Random(), blocked_words=("jazz",))
    with pytest.raises(InvalidRequest, match="Pick another"):
        derive(config, _parent(tmp_path), "blend", rng=random.Random())
    # The partner of a blend is checked too: its prompt goes into the new clip as much.
    partner = JobRecord(
        id="2",
        request=GenerationRequest(Mode.RIFF, Endpoint("kazoo solo", 7)),
        user_id=1,
        guild_id=2,
        channel_id=3,
    )
    with pytest.raises(InvalidRequest, match="blocked"):
        derive(
            config,
            _parent(tmp_path),
            "blend",
            rng=random.Random(),
            partner=partner,
            blocked_words=("kazoo",),
        )


@pytest.mark.parametrize(
    ("seconds", "clips"), [(None, 4), (5, 2), (10, 2), (20, 4), (30, 6), (99, 6)]
)
def test_blend_length_becomes_a_transition_of_whole_clips(
    config: BotConfig, seconds: float | None, clips: int
) -> None:
    request = blend_request(config, Endpoint("a", 1), Endpoint("b", 2), seconds=seconds)
    assert request.clips == clips
    assert request.width == config.clip_width
