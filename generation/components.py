"""The model's components for one batch: text conditioning, the VAE, input images, geometry.

Every planning step and the denoising loop read the pipeline's parts through one
:class:`BatchComponents`, which also keys the caches by model, so a cached latent or
embedding never crosses from one loaded model to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from generation.circular import circular_time_padding
from generation.latents import image_to_tensor, tensor_to_image
from generation.params import SpectrogramParams
from generation.pipeline_cache import PipelineCache, image_digest, model_key
from generation.schedule import LATENT_FACTOR
from generation.text_encoding import CHUNK_TOKENS, MAX_CHUNKS, chunk_count, encode_chunked
from generation.types import InvalidRequest

if TYPE_CHECKING:
    from generation.models import LoadedModel

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


class BatchComponents:
    """What one batch runs with: the loaded model's components (tokenizer, text encoder, VAE,
    UNet), the spectrogram geometry, the caches, and whether the batch pads circularly (loops).

    Text conditioning and the VAE live here; planning and the denoising loop take it as their
    first argument, the way a diffusers pipeline's stages all read its registered modules.
    """

    def __init__(
        self,
        model: LoadedModel,
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
        key = (model_key(self.model), "text", text, chunks)
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
        key = (model_key(self.model), "latent", digest or image_digest(image), self.circular)

        def compute() -> torch.Tensor:
            pixels = image_to_tensor(image).to(self.device, self.dtype)
            with torch.no_grad():
                posterior = self.pipe.vae.encode(pixels).latent_dist
                latent: torch.Tensor = posterior.mean * self.pipe.vae.config.scaling_factor
            return latent.detach()

        return self.cache.latent(key, compute)

    def decode(self, latent: torch.Tensor) -> Image.Image:
        with torch.no_grad():
            scaled = latent / self.pipe.vae.config.scaling_factor
            return tensor_to_image(self.pipe.vae.decode(scaled).sample)

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

    # --- geometry ---------------------------------------------------------------------
    def latent_shape(self, width: int) -> tuple[int, int, int, int]:
        channels = int(self.pipe.unet.config.in_channels)
        return (1, channels, self.height // LATENT_FACTOR, width // LATENT_FACTOR)
