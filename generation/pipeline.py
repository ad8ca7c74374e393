"""The one denoising loop behind riff, blend, loop, extend, remix and variation.

Every mode is a choice of five things fed to the same loop: the text embedding (a lerp of
two prompts' embeddings), the start noise (a slerp of two seeds' noises), the init latent
(nothing, a seed image, a shifted parent clip, a window of an uploaded clip), a mask (which
latent pixels are pinned to the init latent) and the padding mode (circular in time for
loops). The loop itself reads top to bottom like diffusers' img2img pipeline, but runs any
number of such items through the UNet as one batch, each with its own noise, so batching is
a throughput decision that never changes what a request sounds like.

Reproducibility rules that the tests hold us to:
- noise comes from CPU generators seeded with the request's integer seed, so it does not
  depend on the device or on what else is in the batch;
- each item gets its own scheduler instance (schedulers keep history between steps);
- the VAE decodes one item at a time (batched decodes differ in the last bits);
- alpha 0 and 1 short-circuit the lerp/slerp, so the ends of a blend are plain riffs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from generation.circular import circular_time_padding
from generation.image_joins import _fit_width
from generation.masks import keep_fraction, load_mask
from generation.params import SpectrogramParams
from generation.post import Decoded, Finish, post_process
from generation.results import GenerationResult
from generation.schedule import (
    LATENT_FACTOR,
    canonical_scheduler,
    denoise_start,
    effective_strength,
    mix,
)
from generation.seeds import SEED_IMAGE_NAMES
from generation.text_encoding import CHUNK_TOKENS, MAX_CHUNKS, chunk_count, encode_chunked
from generation.types import GenerationRequest, InvalidRequest, JobCancelled, Mode

SLERP_DOT_THRESHOLD = 0.9995
# Riffusion's seed images are 2 bars of 4/4 at ~93.75 BPM in 512 columns: one beat is 64
# columns, 8 latent columns. Extend shifts by whole beats so a joined track keeps its tempo.
BEAT_LATENT_COLUMNS = 8
REMIX_OVERLAP_FRACTION = 1 / 8
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})

# A fixed linear map from SD latents to RGB (a least-squares fit published by the community
# for SD1.x); good enough for a progress thumbnail and costs no VAE call.
_PREVIEW_MAP = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)


class PreviewFn(Protocol):
    """Renders the current latent of the batch's ``index``-th request as a small PNG."""

    def __call__(self, index: int = 0) -> bytes: ...


BatchStepCallback = Callable[[int, int, PreviewFn], None]
"""``(steps_done, total_steps, preview)`` once per step of the whole batch; the engine fans it
out to each request's ``engine.StepCallback``."""


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler of the named kind, with the checkpoint's noise schedule."""
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
    )

    kind = canonical_scheduler(name)
    if kind == "pndm":
        return PNDMScheduler.from_config(base_config, skip_prk_steps=True)
    if kind == "dpm++":
        return DPMSolverMultistepScheduler.from_config(
            base_config, algorithm_type="dpmsolver++", solver_order=2
        )
    if kind == "ddim":
        return DDIMScheduler.from_config(base_config)
    return EulerDiscreteScheduler.from_config(base_config)


def batch_key(request: GenerationRequest) -> Hashable:
    """Requests with equal keys can share UNet calls: same latent shape, same timesteps, same
    padding mode. Prompts, seeds, guidance, masks and alpha may all differ within a batch."""
    strength = effective_strength(request)
    return (
        request.width,
        request.steps,
        canonical_scheduler(request.scheduler),
        strength is not None,
        denoise_start(request.steps, strength),
        request.mode is Mode.LOOP,
    )


def slerp(alpha: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of two noise tensors (Riffusion's, lerp when nearly parallel)."""
    if alpha <= 0.0:
        return a.clone()
    if alpha >= 1.0:
        return b.clone()
    a64, b64 = a.double(), b.double()
    dot = float((a64 * b64).sum() / (a64.norm() * b64.norm()))
    if abs(dot) > SLERP_DOT_THRESHOLD:
        mixed = (1.0 - alpha) * a64 + alpha * b64
    else:
        theta = math.acos(dot)
        sin_theta = math.sin(theta)
        mixed = (math.sin((1.0 - alpha) * theta) / sin_theta) * a64 + (
            math.sin(alpha * theta) / sin_theta
        ) * b64
    return mixed.to(a.dtype)


def seed_noise(seed: int, shape: tuple[int, ...], count: int = 1) -> list[torch.Tensor]:
    """``count`` standard-normal tensors drawn in order from a CPU generator seeded ``seed``."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return [torch.randn(shape, generator=generator, dtype=torch.float32) for _ in range(count)]


class PipelineCache:
    """Memo of encoded seed images and prompt embeddings for one loaded model.

    Encoding og_beat with the VAE for every clip of a radio stream would be wasted work, and
    so would re-encoding the same prompt. The engine owns one of these next to its model; a
    call without one still shares work between the requests of that call.
    """

    def __init__(self, max_latents: int = 64, max_embeddings: int = 512) -> None:
        self._latents: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._embeddings: OrderedDict[Hashable, tuple[torch.Tensor, bool]] = OrderedDict()
        self._max_latents = max_latents
        self._max_embeddings = max_embeddings
        self._seeds: dict[Hashable, tuple[Image.Image, str]] = {}
        self.latent_hits = 0
        self.latent_misses = 0

    def seed_image(
        self, key: Hashable, compute: Callable[[], Image.Image]
    ) -> tuple[Image.Image, str]:
        """A shipped seed image and its digest, decoded and fitted once: a radio asks for
        og_beat every clip, and reading and hashing the PNG again costs the model's thread
        tens of ms."""
        if key not in self._seeds:
            image = compute()
            self._seeds[key] = (image, _image_digest(image))
        return self._seeds[key]

    def latent(self, key: Hashable, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key in self._latents:
            self._latents.move_to_end(key)
            self.latent_hits += 1
            return self._latents[key]
        self.latent_misses += 1
        value = compute()
        self._latents[key] = value
        while len(self._latents) > self._max_latents:
            self._latents.popitem(last=False)
        return value

    def embedding(
        self, key: Hashable, compute: Callable[[], tuple[torch.Tensor, bool]]
    ) -> tuple[torch.Tensor, bool]:
        if key in self._embeddings:
            self._embeddings.move_to_end(key)
            return self._embeddings[key]
        value = compute()
        self._embeddings[key] = value
        while len(self._embeddings) > self._max_embeddings:
            self._embeddings.popitem(last=False)
        return value


@dataclass
class _Item:
    """One latent to denoise: a whole riff, or one window of a remix."""

    owner: int
    cond: torch.Tensor
    uncond: torch.Tensor
    guidance: float
    noise: torch.Tensor
    init: torch.Tensor | None
    mask: torch.Tensor | None
    strength: float | None
    latent: torch.Tensor = field(init=False)
    scheduler: Any = field(init=False)
    begin: int = field(init=False)  # index of its first timestep in the scheduler's list


@dataclass
class _Plan:
    """A request turned into items, plus how to turn their decoded images into a result."""

    request: GenerationRequest
    items: list[_Item]
    finish: Finish
    timings: dict[str, float]
    notes: list[str]


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def _model_key(model: Any) -> tuple[Hashable, ...]:
    return (id(model.pipe.vae), str(model.model_id), str(model.device), str(model.dtype))


def _image_digest(image: Image.Image) -> str:
    digest = hashlib.sha1(image.tobytes(), usedforsecurity=False)
    digest.update(repr(image.size).encode())
    return digest.hexdigest()


def _image_to_tensor(image: Image.Image) -> torch.Tensor:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()


def _tensor_to_image(decoded: torch.Tensor) -> Image.Image:
    # uint8 on the model's device, then one small copy: a quarter of the bytes of a float copy,
    # and the same float32 operations in the same order as numpy did, so the same pixels
    pixels = ((decoded[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).contiguous().cpu().numpy(), mode="RGB")


def _preview_png(latent: torch.Tensor) -> bytes:
    rgb = torch.einsum("chw,cr->hwr", latent[0].float().cpu(), _PREVIEW_MAP)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class _Runner:
    """Holds the model, the spectrogram geometry and the caches for one ``generate_batch``."""

    def __init__(
        self,
        model: Any,
        params: SpectrogramParams,
        cache: PipelineCache,
        max_audio_seconds: float,
    ) -> None:
        self.model = model
        self.pipe = model.pipe
        self.device = torch.device(model.device)
        self.dtype: torch.dtype = model.dtype
        self.params = params
        self.cache = cache
        self.max_audio_seconds = max_audio_seconds
        self.height = params.num_frequencies
        self.circular = False

    # --- text -------------------------------------------------------------------------
    def embed(self, text: str, notes: list[str], chunks: int = 1) -> torch.Tensor:
        """(1, 77 * chunks, dim): long prompts in 75-token chunks, padded to ``chunks``."""
        key = (_model_key(self.model), "text", text, chunks)
        embedding, truncated = self.cache.embedding(
            key,
            lambda: encode_chunked(
                self.pipe.tokenizer,
                self.pipe.text_encoder,
                text,
                self.device,
                self.dtype,
                chunks=chunks,
            ),
        )
        if truncated:
            limit = CHUNK_TOKENS * MAX_CHUNKS
            notes.append(
                f"The prompt '{text[:40]}…' is longer than {limit} tokens "
                f"({MAX_CHUNKS} CLIP chunks); only its first {limit} tokens were used."
            )
        return embedding

    def common_chunks(self, texts: Sequence[str]) -> int:
        """The chunk count that fits every one of ``texts`` (a blend's ends, the negative)."""
        return max(chunk_count(self.pipe.tokenizer, text) for text in texts)

    # --- images and latents -----------------------------------------------------------
    def padding(self) -> AbstractContextManager[int]:
        if not self.circular:
            return nullcontext(0)
        return circular_time_padding([self.pipe.unet, self.pipe.vae])

    def encode(self, image: Image.Image, digest: str | None = None) -> torch.Tensor:
        """The VAE posterior mean of ``image`` (x scaling factor), cached per image + model.

        We take the mean, not a seeded sample as Riffusion did, so the init latent does not
        depend on the seed: that is what lets alpha 1 of a blend equal a riff with the end
        seed, and lets the cache serve every clip made from the same seed image.
        """
        key = (_model_key(self.model), "latent", digest or _image_digest(image), self.circular)

        def compute() -> torch.Tensor:
            pixels = _image_to_tensor(image).to(self.device, self.dtype)
            with torch.no_grad():
                posterior = self.pipe.vae.encode(pixels).latent_dist
                latent: torch.Tensor = posterior.mean * self.pipe.vae.config.scaling_factor
            return latent.detach()

        return self.cache.latent(key, compute)

    def decode(self, latent: torch.Tensor) -> Image.Image:
        with torch.no_grad():
            scaled = latent / self.pipe.vae.config.scaling_factor
            return _tensor_to_image(self.pipe.vae.decode(scaled).sample)

    def load_seed_image(self, spec: str, columns: int) -> Image.Image:
        """A shipped seed, PNG or audio file as a ``columns``-wide spectrogram."""
        from generation.seeds import load_seed

        try:
            image: Image.Image = load_seed(
                spec, self.params, max_seconds=self.max_audio_seconds, columns=columns
            )
            return image
        except InvalidRequest:
            raise
        except (OSError, ValueError, RuntimeError) as error:
            raise InvalidRequest(f"Could not read the seed image '{spec}': {error}") from error

    def load_source_image(self, spec: str) -> Image.Image:
        """The whole spectrogram of a remix source: an uploaded clip, or a spectrogram PNG."""
        path = Path(spec)
        if not path.is_file():
            raise InvalidRequest(f"The file to remix, '{spec}', does not exist.")
        from generation.audio import load_audio
        from generation.codec import image_from_audio, open_image

        if path.suffix.lower() in IMAGE_SUFFIXES:
            return open_image(path).convert("RGB")

        try:
            audio = load_audio(
                path,
                self.params.sample_rate,
                max_seconds=self.max_audio_seconds,
                channels=self.params.channels,
            )
        except InvalidRequest:
            raise
        except Exception as error:
            raise InvalidRequest(
                f"Could not read '{path.name}' as audio; upload an MP3, WAV, OGG or FLAC file."
            ) from error
        if audio.size == 0 or audio.shape[-1] < self.params.hop_length:
            raise InvalidRequest(f"'{path.name}' holds no audio to remix.")
        return image_from_audio(audio, self.params)

    # --- planning ---------------------------------------------------------------------
    def latent_shape(self, width: int) -> tuple[int, int, int, int]:
        channels = int(self.pipe.unet.config.in_channels)
        return (1, channels, self.height // LATENT_FACTOR, width // LATENT_FACTOR)

    def plan(self, request: GenerationRequest, owner: int) -> _Plan:
        timings: dict[str, float] = {}
        notes: list[str] = []
        end = request.end or request.start
        shape = self.latent_shape(request.width)

        prompts = [request.start.prompt, end.prompt, request.negative_prompt]
        chunks = self.common_chunks(prompts)

        def at(alpha: float) -> tuple[torch.Tensor, float, float | None]:
            """Text conditioning, guidance and strength at ``alpha`` from start to end."""
            cond = self.embed(request.start.prompt, notes, chunks)
            if request.end is not None and alpha > 0.0:
                cond_end = self.embed(request.end.prompt, notes, chunks)
                cond = cond_end if alpha >= 1.0 else torch.lerp(cond, cond_end, alpha)
            guidance = mix(request.start.guidance, end.guidance, alpha)
            return cond, guidance, effective_strength(request.with_alpha(alpha))

        def noise_at(alpha: float, count: int = 1) -> list[torch.Tensor]:
            start = seed_noise(request.start.seed, shape, count)
            if request.end is None or alpha <= 0.0:
                return start
            finish = seed_noise(request.end.seed, shape, count)
            return [slerp(alpha, a, b) for a, b in zip(start, finish, strict=True)]

        alpha = request.alpha if request.end is not None else 0.0
        alphas = transition_alphas(request.clips) if request.clips > 1 else [alpha]
        with _timed(timings, "text"):
            points = [at(a) for a in alphas]
            uncond = self.embed(request.negative_prompt, notes, chunks)

        def item(
            noise: torch.Tensor,
            init: torch.Tensor | None,
            mask: torch.Tensor | None,
            point: int = 0,
        ) -> _Item:
            cond, guidance, strength = points[point]
            return _Item(
                owner=owner,
                cond=cond,
                uncond=uncond,
                guidance=guidance,
                noise=noise.to(self.device, self.dtype),
                init=init,
                mask=None if mask is None else mask.to(self.device, self.dtype),
                strength=strength,
            )

        user_mask = None
        if request.mask is not None:
            user_mask = keep_fraction(
                load_mask(request.mask, request.width, self.height), shape[2], shape[3]
            )

        with _timed(timings, "vae_encode"):
            if request.mode is Mode.EXTEND:
                return self._plan_extend(request, item, noise_at(alpha)[0], timings, notes)
            if request.mode is Mode.REMIX:
                return self._plan_remix(
                    request, item, partial(noise_at, alpha), user_mask, timings, notes
                )
            init = None
            if request.seed_image is not None:
                spec, width = request.seed_image, request.width

                def fitted() -> Image.Image:
                    seed = self.load_seed_image(spec, width)
                    return _fit_width(seed, width, self.height, from_right=False)

                if spec in SEED_IMAGE_NAMES:
                    init = self.encode(*self.cache.seed_image((spec, width, self.height), fitted))
                else:
                    init = self.encode(fitted())
        periodic = request.mode is Mode.LOOP
        mask = user_mask if init is not None else None
        items = [item(noise_at(a)[0], init, mask, i) for i, a in enumerate(alphas)]

        finish = Finish("transition") if len(alphas) > 1 else Finish("single", periodic=periodic)
        if len(alphas) > 1:
            notes.append(f"A transition of {len(alphas)} clips from alpha 0 to 1.")
        return _Plan(request, items, finish, timings, notes)

    def _plan_extend(
        self,
        request: GenerationRequest,
        item: Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], _Item],
        noise: torch.Tensor,
        timings: dict[str, float],
        notes: list[str],
    ) -> _Plan:
        """Outpaint to the right: the parent's last columns, shifted left, are pinned by a mask.

        The shift is a whole number of beats, so the new clip's grid lines up with the
        parent's; the new columns are generated from pure noise next to the pinned ones, so
        they continue what was playing rather than starting over.
        """
        if request.seed_image is None:
            raise InvalidRequest("Extend needs the clip to continue (its raw spectrogram PNG).")
        from generation.codec import open_image

        if not Path(request.seed_image).is_file():
            raise InvalidRequest(f"The clip to extend, '{request.seed_image}', was not found.")
        parent = open_image(request.seed_image).convert("RGB")
        if parent.height != self.height:
            parent = parent.resize((parent.width, self.height), Image.Resampling.LANCZOS)
        context = _fit_width(parent, request.width, self.height, from_right=True)
        context_latent = self.encode(context)
        columns = context_latent.shape[-1]
        keep = round(request.extend_keep * columns / BEAT_LATENT_COLUMNS) * BEAT_LATENT_COLUMNS
        keep = min(max(keep, BEAT_LATENT_COLUMNS), columns - BEAT_LATENT_COLUMNS)
        init = torch.zeros_like(context_latent)
        init[..., :keep] = context_latent[..., columns - keep :]
        mask = torch.zeros((1, 1, *init.shape[-2:]), dtype=torch.float32)
        mask[..., :keep] = 1.0
        kept_px = keep * LATENT_FACTOR

        finish = Finish("extend", parent=parent, kept_px=kept_px)
        return _Plan(request, [item(noise, init, mask)], finish, timings, notes)

    def _plan_remix(
        self,
        request: GenerationRequest,
        item: Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], _Item],
        noise_for: Callable[[int], list[torch.Tensor]],
        user_mask: torch.Tensor | None,
        timings: dict[str, float],
        notes: list[str],
    ) -> _Plan:
        """Cut the upload's spectrogram into overlapping windows and img2img each of them."""
        if request.seed_image is None:
            raise InvalidRequest("Remix needs an uploaded clip to work from.")
        source = self.load_source_image(request.seed_image)
        if source.height != self.height:
            source = source.resize((source.width, self.height), Image.Resampling.LANCZOS)
        width = request.width
        overlap = max(LATENT_FACTOR, round(width * REMIX_OVERLAP_FRACTION))
        stride = width - overlap
        original_width = source.width
        count = max(1, math.ceil(max(original_width - width, 0) / stride) + 1)
        padded_width = width + (count - 1) * stride
        padded = Image.new("RGB", (padded_width, self.height), (255, 255, 255))  # silence
        padded.paste(source, (0, 0))
        starts = [i * stride for i in range(count)]
        inits = [self.encode(padded.crop((s, 0, s + width, self.height))) for s in starts]
        noises = noise_for(count)
        items = [item(n, z, user_mask) for n, z in zip(noises, inits, strict=True)]
        finish = Finish("remix", stride=stride, overlap=overlap, original_width=original_width)
        if count > 1:
            notes.append(f"Remixed in {count} overlapping windows of {width} columns.")
        return _Plan(request, items, finish, timings, notes)

    # --- the loop ---------------------------------------------------------------------
    def denoise(
        self,
        items: list[_Item],
        request: GenerationRequest,
        on_step: BatchStepCallback | None,
        cancelled: Callable[[int], bool],
    ) -> tuple[int, set[int]]:
        """Run the items from their start latents to the end, all through one UNet call per
        step. Returns the UNet passes of the batch and the owners that were cancelled on the way
        (their items leave the batch; everyone else carries on).

        Items may start at different timesteps (a transition's clips lerp the strength): each
        joins the batch at its own first timestep, so it runs exactly as it would alone.
        """
        steps = request.steps
        schedule = torch.zeros(0)
        for entry in items:
            scheduler = make_scheduler(request.scheduler, self.pipe.scheduler.config)
            scheduler.set_timesteps(steps, device=self.device)
            schedule = scheduler.timesteps
            entry.begin = denoise_start(steps, entry.strength) * scheduler.order
            if entry.begin >= len(schedule):
                raise InvalidRequest("Steps x strength is below one: there is nothing to denoise.")
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(entry.begin)
            entry.scheduler = scheduler
            if entry.init is None:
                entry.latent = entry.noise * scheduler.init_noise_sigma
            else:
                first_t = schedule[entry.begin : entry.begin + 1]
                entry.latent = scheduler.add_noise(entry.init, entry.noise, first_t)
        first = min(entry.begin for entry in items)
        timesteps = schedule[first:]
        total = len(timesteps)

        def preview(index: int = 0) -> bytes:
            chosen = next((e for e in items if e.owner == index), items[0])
            return _preview_png(chosen.latent)

        dropped: set[int] = set()
        active = list(items)
        unet = self.pipe.unet
        for number, t in enumerate(timesteps):
            owners = {e.owner for e in active}
            newly = {owner for owner in owners if cancelled(owner)}
            if newly:
                dropped |= newly
                active = [e for e in active if e.owner not in newly]
            if not active:
                break
            running = [e for e in active if e.begin <= first + number]
            # one UNet call per prompt length (chunks): padding a request's embedding to a
            # batch-mate's length would change its result
            predictions: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
            for length in sorted({e.cond.shape[1] for e in running}):
                group = [i for i, e in enumerate(running) if e.cond.shape[1] == length]
                members = [running[i] for i in group]
                embeddings = torch.cat([e.uncond for e in members] + [e.cond for e in members])
                inputs = [e.scheduler.scale_model_input(e.latent, t) for e in members]
                batch = torch.cat(inputs + inputs)
                predicted = unet(batch, t, encoder_hidden_states=embeddings).sample
                eps_uncond, eps_cond = predicted.chunk(2)
                for row, index in enumerate(group):
                    predictions[index] = (eps_uncond[row : row + 1], eps_cond[row : row + 1])
            following = timesteps[number + 1 : number + 2]
            for index, entry in enumerate(running):
                u, c = predictions[index]
                eps = u + entry.guidance * (c - u)
                entry.latent = entry.scheduler.step(eps, t, entry.latent).prev_sample
                if entry.mask is not None and entry.init is not None:
                    # Pin the kept region to the init latent at the noise level of the next
                    # step (diffusers' legacy inpainting; Riffusion used the current one),
                    # and to the clean latent after the last step, so kept means kept.
                    pinned = (
                        entry.scheduler.add_noise(entry.init, entry.noise, following)
                        if len(following)
                        else entry.init
                    )
                    entry.latent = entry.mask * pinned + (1 - entry.mask) * entry.latent
            if on_step is not None:
                on_step(number + 1, total, preview)
        return total, dropped


def transition_alphas(clips: int) -> list[float]:
    """Evenly spaced points from 0 to 1, both ends included, so the track starts exactly on
    the first endpoint's clip and ends exactly on the second's."""
    return [index / (clips - 1) for index in range(clips)]


Outcome = GenerationResult | BaseException
PostStage = Callable[[Decoded], "concurrent.futures.Future[GenerationResult]"]
"""Runs :func:`generation.post.post_process` somewhere else (a worker pool) and returns at once."""


def phase_device(model: Any, phase: str = "auto") -> str | None:
    """Where Griffin-Lim runs: ``auto`` on the model's GPU when it has one, else the numpy
    path; ``numpy`` always the numpy path; any other value is a torch device for it."""
    if phase == "numpy":
        return None
    if phase != "auto":
        return phase
    device = torch.device(model.device)
    return str(device) if device.type == "cuda" else None


def _execute(
    model: Any,
    requests: Sequence[GenerationRequest],
    on_step: BatchStepCallback | None,
    cancelled: Callable[[int], bool],
    params: SpectrogramParams,
    cache: PipelineCache,
    max_audio_seconds: float,
    phase: str = "auto",
) -> list[Decoded | BaseException]:
    """The model's part of the batch (text, UNet, VAE), with one outcome per request: a
    failure in one request's set-up (a missing seed image, unreadable audio) or a cancellation
    leaves its batch-mates running. What comes out is decoded images, for :mod:`generation.post`."""
    if not requests:
        return []
    keys = {batch_key(r) for r in requests}
    if len(keys) > 1:
        raise ValueError(f"requests in one batch need one batch_key, got {len(keys)}")
    runner = _Runner(model, params, cache, max_audio_seconds)
    runner.circular = requests[0].mode is Mode.LOOP
    outcomes: list[Decoded | BaseException | None] = [None] * len(requests)
    plans: list[_Plan] = []
    passes, dropped, denoise_s = 0, set[int](), 0.0
    with torch.no_grad(), runner.padding():
        for index, request in enumerate(requests):
            try:
                plans.append(runner.plan(request, index))
            except Exception as error:
                outcomes[index] = error
        items = [entry for plan in plans for entry in plan.items]
        if items:
            started = time.perf_counter()
            passes, dropped = runner.denoise(items, requests[0], on_step, cancelled)
            denoise_s = time.perf_counter() - started
        for plan in plans:
            owner = plan.items[0].owner
            if owner in dropped:
                outcomes[owner] = JobCancelled("The job was cancelled.")
                continue
            try:
                with _timed(plan.timings, "vae_decode"):
                    images = [runner.decode(e.latent) for e in plan.items]
                outcomes[owner] = Decoded(
                    request=plan.request,
                    images=images,
                    finish=plan.finish,
                    params=params,
                    timings=plan.timings,
                    notes=tuple(dict.fromkeys(plan.notes)),
                    model_id=str(model.model_id),
                    model_revision=getattr(model, "revision", None),
                    latent=plan.items[-1].latent[0].float().cpu().numpy(),
                    phase_device=phase_device(model, phase),
                    extra={
                        "denoise": denoise_s,
                        "denoise_per_step": denoise_s / passes,
                        "unet_passes": float(passes),
                        "batch_size": float(len(items)),
                    },
                )
            except Exception as error:
                outcomes[owner] = error
    return [o if o is not None else RuntimeError("request was not run") for o in outcomes]


def _finish_here(outcome: Decoded | BaseException) -> Outcome:
    """Post-process on the calling thread (today's serial path); an error stays that request's."""
    if isinstance(outcome, BaseException):
        return outcome
    try:
        return post_process(outcome)
    except Exception as error:
        return error


def generate_batch(
    model: Any,
    requests: Sequence[GenerationRequest],
    *,
    on_step: BatchStepCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
    phase: str = "auto",
) -> list[GenerationResult]:
    """Generate every request, sharing UNet calls; results come back in request order.

    All requests must have the same :func:`batch_key` (``ValueError`` otherwise). A request's
    result does not depend on its batch-mates beyond float rounding in the UNet's batched
    matrix products (about 1e-6 on CPU fp32). ``on_step(step, total, preview)`` runs after
    every step; ``preview(i)`` renders request ``i``'s latent as a small PNG without the VAE.
    ``should_cancel`` is polled before every step; once true the call raises ``JobCancelled``.
    The first failing request's error is raised; :func:`run_batch` returns them instead.
    ``phase`` says where phase reconstruction runs (see :func:`phase_device`).
    """
    decoded = _execute(
        model,
        requests,
        on_step,
        lambda _owner: should_cancel is not None and should_cancel(),
        params or SpectrogramParams(),
        cache or PipelineCache(),
        max_audio_seconds,
        phase,
    )
    results: list[GenerationResult] = []
    for outcome in map(_finish_here, decoded):
        if isinstance(outcome, BaseException):
            raise outcome
        results.append(outcome)
    return results


def run_batch(
    model: Any,
    requests: Sequence[GenerationRequest],
    on_steps: Sequence[Callable[[int, int, Callable[[], bytes | None] | None], None]],
    cancels: Sequence[Callable[[], bool]],
    *,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
    post: PostStage | None = None,
) -> list[Outcome | concurrent.futures.Future[GenerationResult]]:
    """The engine's batch-runner face: per-request progress and cancel checks, and one result
    or exception per request (a cancelled or broken request never sinks its batch-mates).

    With ``post``, everything after the VAE is handed to it and its futures come back in
    place of results, so the model's thread can start the next batch at once.
    """

    def on_step(step: int, total: int, preview: PreviewFn) -> None:
        for index, callback in enumerate(on_steps):
            if not cancels[index]():
                callback(step, total, partial(preview, index))

    decoded = _execute(
        model,
        requests,
        on_step,
        lambda owner: cancels[owner](),
        params or SpectrogramParams(),
        cache or PipelineCache(),
        max_audio_seconds,
    )
    if post is None:
        return [_finish_here(outcome) for outcome in decoded]
    return [post(o) if isinstance(o, Decoded) else o for o in decoded]


def generate(
    model: Any,
    request: GenerationRequest,
    *,
    on_step: BatchStepCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    params: SpectrogramParams | None = None,
    cache: PipelineCache | None = None,
    max_audio_seconds: float = 60.0,
) -> GenerationResult:
    """One request on its own: exactly ``generate_batch`` with a batch of one."""
    return generate_batch(
        model,
        [request],
        on_step=on_step,
        should_cancel=should_cancel,
        params=params,
        cache=cache,
        max_audio_seconds=max_audio_seconds,
    )[0]
