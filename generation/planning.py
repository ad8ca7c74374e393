"""Requests turned into denoising items: text conditioning, start noise, init latents, masks.

Every mode is a choice of five things fed to the same loop: the text embedding (a lerp of
two prompts' embeddings), the start noise (a slerp of two seeds' noises), the init latent
(nothing, a seed image, a shifted parent clip, a window of an uploaded clip), a mask (which
latent pixels are pinned to the init latent) and the padding mode (circular in time for loops).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from generation.circular import circular_time_padding
from generation.denoise import BatchStepCallback, _Item, _preview_png, make_scheduler
from generation.image_joins import _fit_width
from generation.latents import _image_to_tensor, _tensor_to_image, seed_noise, slerp
from generation.masks import keep_fraction, load_mask
from generation.params import SpectrogramParams
from generation.pipeline_cache import PipelineCache, _image_digest, _model_key
from generation.post import Finish
from generation.schedule import LATENT_FACTOR, denoise_start, effective_strength, mix
from generation.seeds import SEED_IMAGE_NAMES
from generation.text_encoding import CHUNK_TOKENS, MAX_CHUNKS, chunk_count, encode_chunked
from generation.types import GenerationRequest, InvalidRequest, Mode

# Riffusion's seed images are 2 bars of 4/4 at ~93.75 BPM in 512 columns: one beat is 64
# columns, 8 latent columns. Extend shifts by whole beats so a joined track keeps its tempo.
BEAT_LATENT_COLUMNS = 8
REMIX_OVERLAP_FRACTION = 1 / 8
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


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
