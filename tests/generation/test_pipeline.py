"""The denoising loop on the tiny model saved to disk and loaded back.

Clips are 256 columns wide and run 3-4 UNet passes: the tiny model's weights are random, so
these tests check the loop's arithmetic (what is kept, what is reproduced, what changes), not
how the music sounds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from PIL import Image

from generation.audio import seam_ratio, write_wav
from generation.circular import circular_time_padding
from generation.latents import slerp
from generation.models import LoadedModel
from generation.outputs import write_outputs
from generation.params import SpectrogramParams
from generation.pipeline import batch_key, generate, generate_batch, run_batch
from generation.pipeline_cache import PipelineCache
from generation.prompts import encode_weighted, parse_weighted_prompt, tokenize_weighted
from generation.results import GenerationResult
from generation.schedule import unet_passes
from generation.text_encoding import chunk_tokens, encode_chunked
from generation.types import Endpoint, GenerationRequest, InvalidRequest, JobCancelled, Mode

WIDTH = 256
STEPS = 4
PARAMS = SpectrogramParams()


def riff(prompt: str = "lofi beat", seed: int = 1, **changes: Any) -> GenerationRequest:
    request = GenerationRequest(
        mode=Mode.RIFF, start=Endpoint(prompt, seed), steps=STEPS, width=WIDTH
    )
    return replace(request, **changes)


START = Endpoint("lofi beat", 1, strength=0.75, guidance=7.0)
END = Endpoint("church organ", 2, strength=0.75, guidance=5.0)


def blend(alpha: float) -> GenerationRequest:
    return GenerationRequest(
        mode=Mode.BLEND, start=START, end=END, alpha=alpha, steps=STEPS, width=WIDTH
    )


def pixels(result: GenerationResult) -> np.ndarray:
    return np.asarray(result.raw_image, dtype=np.int16)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The tiny model's ops are too small to share: on a busy 2-core machine two torch
    threads spin against each other and run about 10x slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache() -> PipelineCache:
    return PipelineCache()


@pytest.fixture(scope="module")
def endpoints(tiny_model_session: LoadedModel, cache: PipelineCache) -> dict[str, GenerationResult]:
    """Plain riffs at both ends of the blend, and the blend at 0, 0.5 and 1, each run alone."""
    model = tiny_model_session
    return {
        "start": generate(model, replace(blend(0.0), mode=Mode.RIFF, end=None), cache=cache),
        "end": generate(
            model, replace(blend(0.0), mode=Mode.RIFF, start=END, end=None), cache=cache
        ),
        "a0": generate(model, blend(0.0), cache=cache),
        "a05": generate(model, blend(0.5), cache=cache),
        "a1": generate(model, blend(1.0), cache=cache),
    }


def test_riff_is_deterministic_and_seeded(
    tiny_model_session: LoadedModel, endpoints: dict[str, GenerationResult]
) -> None:
    again = generate(tiny_model_session, replace(blend(0.0), mode=Mode.RIFF, end=None))
    first = endpoints["start"]
    assert np.array_equal(again.latent, first.latent)
    assert np.array_equal(pixels(again), pixels(first))
    assert np.array_equal(again.audio, first.audio)
    assert first.audio.dtype == np.float32
    assert first.audio.shape[0] == 1
    assert first.raw_image.size == (WIDTH, PARAMS.num_frequencies)
    assert not np.array_equal(endpoints["end"].latent, first.latent)
    for stage in ("text", "vae_encode", "denoise", "vae_decode", "audio", "total"):
        assert first.timings[stage] >= 0.0
    assert first.timings["unet_passes"] == int(STEPS * 0.75) + 1  # PNDM repeats one timestep


def test_blend_endpoints_reproduce_the_riffs_exactly(
    endpoints: dict[str, GenerationResult],
) -> None:
    assert np.array_equal(endpoints["a0"].latent, endpoints["start"].latent)
    assert np.array_equal(pixels(endpoints["a0"]), pixels(endpoints["start"]))
    assert np.array_equal(endpoints["a0"].audio, endpoints["start"].audio)
    assert np.array_equal(endpoints["a1"].latent, endpoints["end"].latent)
    assert np.array_equal(pixels(endpoints["a1"]), pixels(endpoints["end"]))


def test_blend_midpoint_lies_between_the_endpoints(
    endpoints: dict[str, GenerationResult],
) -> None:
    middle = endpoints["a05"].latent
    start, end = endpoints["start"].latent, endpoints["end"].latent
    assert middle is not None
    assert start is not None
    assert end is not None
    gap = np.abs(start - end).mean()
    assert np.abs(middle - start).mean() > 0.05 * gap
    assert np.abs(middle - end).mean() > 0.05 * gap
    # closer to each endpoint than the endpoints are to each other
    assert np.abs(middle - start).mean() < gap
    assert np.abs(middle - end).mean() < gap


def test_transition_track_runs_from_one_endpoint_to_the_other(
    tiny_model_session: LoadedModel, endpoints: dict[str, GenerationResult], cache: PipelineCache
) -> None:
    """Three clips at alpha 0, 0.5 and 1 side by side: the ends are the two riffs (up to the
    batched-matmul rounding noted below), the joins are crossfaded, the middle is the blend."""
    track = generate(tiny_model_session, replace(blend(0.0), clips=3), cache=cache)
    image = pixels(track)
    assert track.raw_image.size == (3 * WIDTH, PARAMS.num_frequencies)
    expected = ("start", "a05", "end")
    for index, name in enumerate(expected):
        part = image[:, index * WIDTH : (index + 1) * WIDTH]
        assert np.abs(part - pixels(endpoints[name])).max() <= 1
    clip = PARAMS.samples_for_width(WIDTH)
    assert track.audio.shape == (1, 3 * clip - 2 * PARAMS.hop_length)
    for fade_start in (clip - PARAMS.hop_length, 2 * clip - 2 * PARAMS.hop_length):
        for at in (fade_start, fade_start + PARAMS.hop_length):
            assert seam_ratio(track.audio, at=at) <= 1.0
    assert any("transition of 3 clips" in note for note in track.notes)


def test_transition_between_endpoints_of_different_strengths_ends_on_each(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    """A blend from a remix (strength 0.5) to a fresh riff (0.75): each clip must use its own
    alpha's strength, so the last clip is the end riff, not a riff at the start's strength."""
    start = replace(START, strength=0.75)
    end = replace(END, strength=0.5)
    base = GenerationRequest(mode=Mode.BLEND, start=start, end=end, steps=STEPS, width=128, clips=2)
    alone = [
        generate(tiny_model_session, replace(base, mode=Mode.RIFF, start=e, end=None, clips=1))
        for e in (start, end)
    ]
    assert alone[0].timings["unet_passes"] != alone[1].timings["unet_passes"]
    track = pixels(generate(tiny_model_session, base, cache=cache))
    for index, riff_alone in enumerate(alone):
        part = track[:, index * 128 : (index + 1) * 128]
        assert np.abs(part - pixels(riff_alone)).max() <= 1


def test_slerp_keeps_noise_norm_and_is_exact_at_the_ends() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 32, 32, generator=generator)
    b = torch.randn(4, 32, 32, generator=generator)
    assert torch.equal(slerp(0.0, a, b), a)
    assert torch.equal(slerp(1.0, a, b), b)
    middle = slerp(0.5, a, b)
    # a lerp of two independent noises would shrink the norm by about 1/sqrt(2)
    assert math.isclose(float(middle.norm()), float(a.norm() + b.norm()) / 2, rel_tol=0.02)
    nearly = slerp(0.5, a, a * 1.0001)  # parallel: falls back to lerp
    assert torch.allclose(nearly, a * 1.00005)


def test_batched_requests_match_the_same_requests_run_alone(
    tiny_model_session: LoadedModel, endpoints: dict[str, GenerationResult], cache: PipelineCache
) -> None:
    """Tolerance: CPU fp32 matmuls block differently at batch 2 and batch 6, so latents agree
    to ~1e-5 rather than bit for bit; decoded pixels then differ by at most one level."""
    requests = [blend(0.5), endpoints["start"].request, endpoints["end"].request]
    assert len({batch_key(r) for r in requests}) == 1
    steps: list[tuple[int, int]] = []
    batched = generate_batch(
        tiny_model_session,
        requests,
        cache=cache,
        on_step=lambda step, total, preview: steps.append((step, total)),
    )
    for result, alone in zip(batched, [endpoints[k] for k in ("a05", "start", "end")], strict=True):
        assert result.request == alone.request
        assert result.timings["batch_size"] == 3
        assert np.allclose(result.latent, alone.latent, atol=1e-4, rtol=0)
        assert np.abs(pixels(result) - pixels(alone)).max() <= 1
    assert steps == [(i, 4) for i in range(1, 5)]


def test_requests_with_other_shapes_do_not_share_a_batch() -> None:
    base = riff()
    assert batch_key(base) == batch_key(replace(base, start=Endpoint("other", 99, guidance=3)))
    assert batch_key(base) != batch_key(replace(base, width=512))
    assert batch_key(base) != batch_key(replace(base, mode=Mode.LOOP))
    assert batch_key(base) != batch_key(replace(base, seed_image=None))
    assert batch_key(base) != batch_key(replace(base, scheduler="ddim"))
    assert batch_key(base) != batch_key(replace(base, steps=20))
    with pytest.raises(ValueError, match="batch_key"):
        generate_batch(cast("LoadedModel", object()), [base, replace(base, width=512)])


def test_negative_prompt_changes_the_result(
    tiny_model_session: LoadedModel, endpoints: dict[str, GenerationResult], cache: PipelineCache
) -> None:
    plain = endpoints["start"]
    negative = generate(
        tiny_model_session, replace(plain.request, negative_prompt="distorted"), cache=cache
    )
    assert not np.allclose(negative.latent, plain.latent, atol=1e-3)


def test_prompt_weighting_parses_and_changes_the_embedding(
    tiny_model_session: LoadedModel,
) -> None:
    assert parse_weighted_prompt("a (jazz:1.5) [piano] \\(x\\)") == [
        ("a ", 1.0),
        ("jazz", 1.5),
        (" ", 1.0),
        ("piano", 1 / 1.1),
        (" (x)", 1.0),
    ]
    [(text, weight)] = parse_weighted_prompt("((drums))")
    assert text == "drums"
    assert math.isclose(weight, 1.21)
    pipe = tiny_model_session.pipe
    cpu = torch.device("cpu")

    def embed(text: str) -> torch.Tensor:
        return encode_weighted(pipe.tokenizer, pipe.text_encoder, text, cpu, torch.float32)[0]

    plain = embed("jazz piano")
    assert torch.equal(embed("(jazz:1.0) piano"), plain)
    weighted = embed("(jazz:1.3) piano")
    assert weighted.shape == plain.shape == (1, 77, 32)
    assert not torch.allclose(weighted, plain)
    # the lpw rescale keeps the mean of the embedding
    assert math.isclose(float(weighted.mean()), float(plain.mean()), rel_tol=1e-4)
    # a plain prompt tokenizes exactly as the stock pipeline does
    stock = pipe.tokenizer("jazz piano", padding="max_length", max_length=77).input_ids
    assert tokenize_weighted(pipe.tokenizer, "jazz piano").ids == stock


def test_long_prompts_are_embedded_in_chunks(tiny_model_session: LoadedModel) -> None:
    """A 142-token prompt gives (1, 154, dim) as in Riffusion: two chunks of BOS + 75 + EOS,
    the second padded; its end is not ignored; the weights are kept per token."""
    pipe = tiny_model_session.pipe
    cpu = torch.device("cpu")

    def encode(text: str, **options: Any) -> torch.Tensor:
        return encode_chunked(
            pipe.tokenizer, pipe.text_encoder, text, cpu, torch.float32, **options
        )[0]

    text = "drum " * 141 + "trumpet"
    assert len(pipe.tokenizer(text, add_special_tokens=False).input_ids) == 142
    tokens = chunk_tokens(pipe.tokenizer, text)
    assert tokens.chunks == 2
    assert not tokens.truncated
    bos, eos = pipe.tokenizer.bos_token_id, pipe.tokenizer.eos_token_id
    assert [row[0] for row in tokens.ids] == [bos, bos]
    assert tokens.ids[0][76] == eos  # a full chunk ends on its own EOS
    assert tokens.ids[1][68] == eos  # 67 tokens, then EOS, then padding
    embedding = encode(text)
    assert embedding.shape == (1, 154, 32)
    # the end of the prompt changes the second chunk only
    other = encode("drum " * 141 + "organ")
    assert torch.equal(other[:, :77], embedding[:, :77])
    assert not torch.allclose(other[:, 77:], embedding[:, 77:])
    # a one-chunk prompt is the plain 77-token encode, bit for bit
    plain = encode_weighted(pipe.tokenizer, pipe.text_encoder, "jazz piano", cpu, torch.float32)
    assert torch.equal(encode("jazz piano"), plain[0])
    # weights survive chunking: weighting a word in the second chunk changes the embedding
    weighted = encode("drum " * 141 + "(trumpet:1.4)")
    assert weighted.shape == embedding.shape
    assert not torch.allclose(weighted[:, 77:], embedding[:, 77:])
    assert math.isclose(float(weighted.mean()), float(embedding.mean()), rel_tol=1e-4)


def test_padding_a_prompt_to_more_chunks_adds_empty_chunks(
    tiny_model_session: LoadedModel,
) -> None:
    pipe = tiny_model_session.pipe
    cpu = torch.device("cpu")
    short, _ = encode_chunked(pipe.tokenizer, pipe.text_encoder, "jazz", cpu, torch.float32)
    padded, _ = encode_chunked(
        pipe.tokenizer, pipe.text_encoder, "jazz", cpu, torch.float32, chunks=3
    )
    empty, _ = encode_chunked(pipe.tokenizer, pipe.text_encoder, "", cpu, torch.float32)
    assert padded.shape == (1, 231, 32)
    assert torch.equal(padded[:, :77], short)
    assert torch.equal(padded[:, 77:154], empty)
    assert torch.equal(padded[:, 154:], empty)


def test_prompts_past_three_chunks_are_cut_with_a_note(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    tokens = chunk_tokens(tiny_model_session.pipe.tokenizer, "drum " * 300)
    assert tokens.truncated
    assert tokens.chunks == 3
    result = generate(
        tiny_model_session, riff("drum " * 300, steps=2, seed_image=None), cache=cache
    )
    assert any("225 tokens" in note for note in result.notes)
    kept = generate(tiny_model_session, riff("drum " * 100, steps=2, seed_image=None), cache=cache)
    assert not any("tokens" in note for note in kept.notes)


def test_long_prompt_with_a_short_negative_and_a_blend_of_different_lengths(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    """Lengths are padded to a common chunk count: a long prompt with the default negative
    prompt runs, a blend from a short prompt to a long one runs, and the long prompt's tail
    matters to the sound (it was ignored when prompts were cut at 77 tokens)."""
    long_a = "lofi beat " + "warm " * 90 + "with a trumpet solo"
    long_b = "lofi beat " + "warm " * 90 + "with a church organ"
    first = generate(
        tiny_model_session, riff(long_a, steps=2, negative_prompt="noise"), cache=cache
    )
    second = generate(
        tiny_model_session, riff(long_b, steps=2, negative_prompt="noise"), cache=cache
    )
    assert not np.array_equal(pixels(first), pixels(second))
    mixed = replace(
        blend(0.5), start=replace(START, prompt="jazz"), end=replace(END, prompt=long_a)
    )
    result = generate(tiny_model_session, replace(mixed, steps=2), cache=cache)
    assert result.raw_image.size == (WIDTH, 512)


def test_requests_of_different_prompt_lengths_batch_as_they_run_alone(
    tiny_model_session: LoadedModel,
) -> None:
    long_prompt = "lofi beat " + "warm " * 90
    requests = [riff("jazz", seed=3, steps=2), riff(long_prompt, seed=4, steps=2)]
    together = generate_batch(tiny_model_session, requests, cache=PipelineCache())
    for request, result in zip(requests, together, strict=True):
        alone = generate(tiny_model_session, request, cache=PipelineCache())
        assert isinstance(result, GenerationResult)
        assert np.array_equal(pixels(result), pixels(alone))


def test_loop_wraps_without_a_seam_and_restores_the_model(tiny_model: LoadedModel) -> None:
    result = generate(tiny_model, riff(mode=Mode.LOOP, seed=5))
    assert seam_ratio(result.audio, at=0) <= 1.0
    image = pixels(result).astype(np.float64)
    wrap = np.abs(image[:, 0] - image[:, -1]).mean()
    typical = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))
    assert wrap <= np.percentile(typical, 99)
    convs = [m for m in tiny_model.pipe.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any("forward" in conv.__dict__ for conv in convs)


def test_circular_padding_makes_convolutions_wrap_in_time_only() -> None:
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    torch.nn.init.ones_(conv.weight)
    image = torch.zeros(1, 1, 4, 6)
    image[..., :, 0] = 1.0  # a bright first column
    with torch.no_grad():
        plain = conv(image)
        with circular_time_padding([conv]) as patched:
            wrapped = conv(image)
        restored = conv(image)
    assert patched == 1
    assert float(plain[0, 0, 1, -1]) == 0.0
    assert float(wrapped[0, 0, 1, -1]) == 3.0  # the last column now sees the first
    assert float(wrapped[0, 0, 0, 0]) == 2.0  # but the top row still sees zeros above
    assert torch.equal(restored, plain)


def test_extend_keeps_the_parent_and_continues_it(
    tiny_model_session: LoadedModel,
    endpoints: dict[str, GenerationResult],
    cache: PipelineCache,
    tmp_path: Path,
) -> None:
    parent = endpoints["start"]
    parent_png = tmp_path / "parent.png"
    parent.raw_image.save(parent_png)
    request = GenerationRequest(
        mode=Mode.EXTEND,
        start=Endpoint("lofi beat", 2),
        steps=STEPS,
        width=WIDTH,
        seed_image=str(parent_png),
        extend_keep=0.5,
    )
    result = generate(tiny_model_session, request, cache=cache)
    kept_px = WIDTH // 2  # half of the clip, a whole number of 64-column beats
    assert result.raw_image.width == WIDTH + WIDTH - kept_px
    assert result.duration_s > parent.duration_s
    assert result.timings["unet_passes"] == STEPS + 1  # full denoise of the new columns (PNDM)
    joined, old = pixels(result), pixels(parent)
    assert np.array_equal(joined[:, : WIDTH - 64], old[:, : WIDTH - 64])
    # the new clip's latent starts with the parent's right half, exactly
    vae = tiny_model_session.pipe.vae
    with torch.no_grad():  # the parent is one clip wide, so the context is all of it
        tensor = torch.from_numpy(old.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        context = vae.encode(tensor).latent_dist.mean * vae.config.scaling_factor
    k = kept_px // 8
    assert np.allclose(result.latent[:, :, :k], context[0, :, :, -k:].numpy(), atol=1e-6)
    # continuity: no column step around the join is bigger than the clip's own big steps
    steps = np.abs(np.diff(joined.astype(np.float64), axis=1)).mean(axis=(0, 2))
    join = slice(WIDTH - 70, WIDTH + 6)
    assert steps[join].max() <= np.percentile(steps, 99)


def test_remix_redraws_an_uploaded_clip_in_windows(
    tiny_model_session: LoadedModel, cache: PipelineCache, tmp_path: Path
) -> None:
    rate = PARAMS.sample_rate
    t = np.arange(int(4.0 * rate)) / rate
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sign(np.sin(2 * np.pi * 1.5 * t))) / 2
    upload = write_wav(audio[None].astype(np.float32), rate, tmp_path / "upload.wav")
    request = GenerationRequest(
        mode=Mode.REMIX,
        start=Endpoint("jazz trio", 3, strength=0.5),
        steps=STEPS,
        width=WIDTH,
        seed_image=str(upload),
    )
    result = generate(tiny_model_session, request, cache=cache)
    source_width = PARAMS.width_for_samples(audio.size)
    assert result.raw_image.width == source_width
    assert result.audio.shape == (1, PARAMS.samples_for_width(source_width))
    assert any("windows" in note for note in result.notes)
    assert result.timings["batch_size"] == 2  # both windows went through the UNet together


def test_progress_reports_every_step_with_a_cheap_preview(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    seen: list[tuple[int, int, bytes]] = []
    generate(
        tiny_model_session,
        riff(seed_image=None, steps=3),
        cache=cache,
        on_step=lambda step, total, preview: seen.append((step, total, preview())),
    )
    assert [(s, t) for s, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    preview = Image.open(__import__("io").BytesIO(seen[-1][2]))
    assert preview.size == (WIDTH // 8, PARAMS.num_frequencies // 8)


def test_cancelled_job_stops_and_batch_mates_carry_on(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    calls: list[int] = []

    def stop_after_first() -> bool:
        return len(calls) >= 1

    with pytest.raises(JobCancelled):
        generate(
            tiny_model_session,
            riff(seed_image=None),
            cache=cache,
            on_step=lambda step, total, preview: calls.append(step),
            should_cancel=stop_after_first,
        )
    assert calls == [1]

    steps: list[int] = []
    outcomes = run_batch(
        tiny_model_session,
        [riff(seed_image=None), riff(seed=2, seed_image=None)],
        [lambda s, t, p: steps.append(s), lambda s, t, p: None],
        [lambda: False, lambda: len(steps) >= 2],
        cache=cache,
    )
    assert isinstance(outcomes[0], GenerationResult)
    assert isinstance(outcomes[1], JobCancelled)


def test_bad_seed_image_and_unreadable_audio_are_clear_errors(
    tiny_model_session: LoadedModel, cache: PipelineCache, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest, match=r"not found|No such|does not exist|existing file"):
        generate(tiny_model_session, riff(seed_image=str(tmp_path / "nope.png")), cache=cache)
    junk = tmp_path / "song.mp3"
    junk.write_bytes(b"this is not audio at all" * 40)
    remix = GenerationRequest(
        mode=Mode.REMIX, start=Endpoint("jazz", 1), steps=STEPS, width=WIDTH, seed_image=str(junk)
    )
    with pytest.raises(InvalidRequest, match="audio"):
        generate(tiny_model_session, remix, cache=cache)
    outcomes = run_batch(
        tiny_model_session,
        [remix, replace(remix, seed_image=str(tmp_path / "gone.wav"))],
        [lambda s, t, p: None] * 2,
        [lambda: False] * 2,
    )
    assert all(isinstance(o, InvalidRequest) for o in outcomes)


def test_write_outputs_leaves_everything_needed_to_make_it_again(
    endpoints: dict[str, GenerationResult], tmp_path: Path
) -> None:
    from generation.codec import EXIF_SAMPLE_RATE

    result = endpoints["a05"]
    files = write_outputs(result, tmp_path / "out", "clip")
    assert files.mp3.stat().st_size > 1000
    assert Image.open(files.raw_png).getexif()[EXIF_SAMPLE_RATE] == PARAMS.sample_rate
    assert np.array_equal(np.asarray(Image.open(files.raw_png).convert("RGB")), pixels(result))
    assert files.picture_png is not None
    assert result.picture is not None
    assert Image.open(files.picture_png).size == result.picture.size
    record = json.loads(files.params_json.read_text(encoding="utf-8"))
    assert GenerationRequest.from_dict(record["request"]) == result.request
    assert record["model"] == {"id": result.model_id, "revision": result.model_revision}
    assert {"text", "denoise", "vae_decode", "audio", "total", "mp3"} <= set(record["timings"])
    assert math.isclose(files.duration_s, result.duration_s)


@pytest.mark.parametrize("scheduler", ["pndm", "dpm++", "ddim", "euler"])
def test_every_scheduler_runs_txt2img_and_img2img(
    tiny_model_session: LoadedModel, cache: PipelineCache, scheduler: str
) -> None:
    request = riff(scheduler=scheduler, width=128, steps=4)
    img2img = generate(tiny_model_session, request, cache=cache)
    txt2img = generate(tiny_model_session, replace(request, seed_image=None), cache=cache)
    assert np.isfinite(img2img.latent).all()
    assert np.isfinite(txt2img.latent).all()
    assert img2img.timings["unet_passes"] == unet_passes(request)
    assert txt2img.timings["unet_passes"] == unet_passes(replace(request, seed_image=None))
    assert img2img.timings["unet_passes"] < txt2img.timings["unet_passes"]
    assert not np.allclose(img2img.latent, txt2img.latent)


def test_hihat_mask_keeps_the_top_band_of_the_seed_image(
    tiny_model_session: LoadedModel, cache: PipelineCache
) -> None:
    from generation.seeds import load_seed

    request = riff(seed=4, mask="keep_hihat", width=128)
    masked = generate(tiny_model_session, request, cache=cache)
    free = generate(tiny_model_session, replace(request, mask=None), cache=cache)
    seed = load_seed("og_beat", PARAMS, max_seconds=10, columns=128)
    tensor = torch.from_numpy(np.asarray(seed, dtype=np.float32) / 127.5 - 1.0)
    vae = tiny_model_session.pipe.vae
    with torch.no_grad():
        init = vae.encode(tensor.permute(2, 0, 1)[None]).latent_dist.mean
    init_np = (init * vae.config.scaling_factor)[0].numpy()
    top = round(64 / 3) - 1  # the mask's top third, in latent rows
    assert np.allclose(masked.latent[:, :top], init_np[:, :top], atol=1e-6)
    assert not np.allclose(free.latent[:, :top], init_np[:, :top], atol=1e-2)
    assert np.abs(masked.latent[:, top + 2 :] - init_np[:, top + 2 :]).mean() > 0.1


def test_variation_stays_close_to_its_parent(
    tiny_model_session: LoadedModel,
    endpoints: dict[str, GenerationResult],
    cache: PipelineCache,
    tmp_path: Path,
) -> None:
    parent = endpoints["start"]
    parent.raw_image.save(tmp_path / "parent.png")
    variation = GenerationRequest(
        mode=Mode.VARIATION,
        start=replace(parent.request.start, seed=parent.request.start.seed + 1, strength=0.3),
        steps=STEPS * 2,
        width=WIDTH,
        seed_image=str(tmp_path / "parent.png"),
    )
    near = generate(tiny_model_session, variation, cache=cache)
    far = endpoints["end"]
    distance = np.abs(pixels(near) - pixels(parent)).mean()
    assert 0 < distance < np.abs(pixels(far) - pixels(parent)).mean()
