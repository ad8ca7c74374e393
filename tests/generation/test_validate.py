"""Bad requests are stopped at the door with a sentence a person can act on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generation.types import Endpoint, GenerationRequest, InvalidRequest, Mode
from generation.validate import validate_request

LIMIT = 400


def riff(**changes: Any) -> GenerationRequest:
    return replace(GenerationRequest(mode=Mode.RIFF, start=Endpoint("lofi beat", 7)), **changes)


def check(request: GenerationRequest) -> GenerationRequest:
    return validate_request(request, max_prompt_chars=LIMIT)


def test_a_good_request_comes_back_tidied() -> None:
    request = riff(
        start=Endpoint("  lofi \n beat  ", 2**32 - 1), scheduler="DPMpp", negative_prompt=" harsh "
    )
    checked = check(request)
    assert checked.start.prompt == "lofi beat"
    assert checked.start.seed == 2**32 - 1
    assert checked.scheduler == "dpm++"
    assert checked.negative_prompt == "harsh"


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_rejected(prompt: str) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        check(riff(start=Endpoint(prompt, 1)))


def test_ten_thousand_character_prompt_is_rejected_with_the_limit() -> None:
    with pytest.raises(InvalidRequest, match=r"10,000 characters.*400"):
        check(riff(start=Endpoint("a" * 10_000, 1)))
    with pytest.raises(InvalidRequest, match="negative prompt"):
        check(riff(negative_prompt="b" * 10_000))


def test_prompt_over_77_tokens_but_under_the_limit_is_accepted() -> None:
    long = ("beat " * 79).strip()  # 79 CLIP tokens, 394 characters: the pipeline truncates
    assert check(riff(start=Endpoint(long, 1))).start.prompt == long


@pytest.mark.parametrize(
    ("seed", "match"),
    [
        ("12", "whole number"),
        (1.5, "whole number"),
        (True, "whole number"),
        (None, "whole number"),
        (-1, "between 0 and 4294967295"),
        (2**32, "between 0 and 4294967295"),
    ],
)
def test_wrong_seeds_are_rejected(seed: Any, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        check(riff(start=Endpoint("beat", seed)))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"start": Endpoint("beat", 1, strength=0.0)}, "strength"),
        ({"start": Endpoint("beat", 1, strength=1.5)}, "strength"),
        ({"start": Endpoint("beat", 1, guidance=float("nan"))}, "finite"),
        ({"start": Endpoint("beat", 1, guidance=99.0)}, "guidance"),
        ({"alpha": 1.2, "end": Endpoint("jazz", 2), "mode": Mode.BLEND}, "Alpha"),
        ({"steps": 0}, "Steps"),
        ({"steps": 10_000}, "Steps"),
        ({"steps": 2.5}, "whole number"),
        ({"scheduler": "magic"}, "Unknown scheduler"),
        ({"width": 500}, "multiple of 64"),
        ({"width": 8192}, "width"),
        ({"extend_keep": 1.0}, "extend_keep"),
        ({"mode": Mode.BLEND}, "two prompts"),
        ({"seed_image": "no_such_seed"}, "no seed image called"),
        ({"seed_image": None, "mask": "keep_hihat"}, "needs a seed image"),
        ({"mask": "nonexistent_mask.png"}, "not found"),
    ],
)
def test_out_of_range_settings_are_rejected(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        check(riff(**changes))


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"seed image .*was not found"):
        check(riff(seed_image=str(tmp_path / "missing.png")))
    with pytest.raises(InvalidRequest, match="remix needs an audio file"):
        check(riff(mode=Mode.REMIX, seed_image=None))
    with pytest.raises(InvalidRequest, match=r"audio file .*was not found"):
        check(riff(mode=Mode.REMIX, seed_image=str(tmp_path / "song.mp3")))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InvalidRequest, match="empty"):
        check(riff(mode=Mode.REMIX, seed_image=str(empty)))
    with pytest.raises(InvalidRequest, match="extend needs"):
        check(riff(mode=Mode.EXTEND, seed_image=None))


def test_shipped_names_and_existing_files_pass(tmp_path: Path) -> None:
    png = tmp_path / "parent.png"
    png.write_bytes(b"\x89PNG not really, but validation does not decode")
    assert check(riff(seed_image="og_beat", mask="keep_hihat")).mask == "keep_hihat"
    assert check(riff(mode=Mode.EXTEND, seed_image=str(png))).seed_image == str(png)
    assert check(riff(seed_image=None)).seed_image is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\u200b\u200c\u200d\u2060\ufeff", ""),  # zero-width only: nothing visible
        ("\u202e\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c", ""),  # bidi controls only
        ("\x00\x07\x1b[31m\x7f\x85", "[31m"),  # C0/C1 controls become spaces
        ("lofi\u202e beat", "lofi beat"),
        ("drums \U0001f469\u200d\U0001f4bb", "drums \U0001f469\u200d\U0001f4bb"),
        ("\u0301\u0301", ""),  # combining marks on nothing
    ],
)
def test_clean_text_strips_controls_and_empties_invisible_text(raw: str, clean: str) -> None:
    from generation.validate import clean_text

    assert clean_text(raw) == clean
    if not clean:
        with pytest.raises(InvalidRequest, match="empty"):
            check(riff(start=Endpoint(raw, 1)))


def test_check_sources_false_leaves_files_for_later(tmp_path: Path) -> None:
    remix = GenerationRequest(
        mode=Mode.REMIX, start=Endpoint("organ", 1), seed_image=str(tmp_path / "later.wav")
    )
    with pytest.raises(InvalidRequest, match="not found"):
        check(remix)
    assert validate_request(remix, max_prompt_chars=LIMIT, check_sources=False).seed_image
    with pytest.raises(InvalidRequest, match="seed must be between"):
        validate_request(
            replace(remix, start=Endpoint("organ", 2**64)),
            max_prompt_chars=LIMIT,
            check_sources=False,
        )
