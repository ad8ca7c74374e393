"""Memo of encoded seed images and prompt embeddings, kept next to one loaded model."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import torch
from PIL import Image

if TYPE_CHECKING:
    from generation.models import LoadedModel


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
            self._seeds[key] = (image, image_digest(image))
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


def model_key(model: LoadedModel) -> tuple[Hashable, ...]:
    """What a cached latent or embedding was made with: the same text or image under another
    model, device or dtype is a different tensor."""
    return (id(model.pipe.vae), str(model.model_id), str(model.device), str(model.dtype))


def image_digest(image: Image.Image) -> str:
    """A cache key for an image by its pixels, so the same seed from two paths is one entry."""
    digest = hashlib.sha1(image.tobytes(), usedforsecurity=False)
    digest.update(repr(image.size).encode())
    return digest.hexdigest()
