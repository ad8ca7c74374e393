"""Long prompts as CLIP sees them: 75-token chunks, each with its own BOS and EOS.

CLIP's text encoder reads 77 positions. Riffusion (through diffusers' community
``lpw_stable_diffusion``, ``no_boseos_middle=False``) embeds a longer prompt chunk by chunk and
concatenates the results, so a 142-token prompt gives a (1, 154, dim) embedding, up to
``max_embeddings_multiples=3`` chunks. We do the same, with the weights of ``(word:1.3)``
syntax kept per token, and pad with empty chunks (BOS, padding, EOS: what the encoder sees
for an empty prompt) to a common count, so the negative prompt and both ends of a blend have
one length and can be lerped and batched. A prompt of 75 tokens or fewer is one chunk and
tokenizes exactly as the stock pipeline does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from generation.prompts import parse_weighted_prompt

CHUNK_TOKENS = 75
"""Text tokens per chunk: CLIP's 77 positions less BOS and EOS."""
MAX_CHUNKS = 3
"""Riffusion's ``max_embeddings_multiples``: 225 text tokens; longer prompts are cut."""


@dataclass(frozen=True)
class ChunkedTokens:
    """``chunks`` rows of ``model_max_length`` ids and weights; ``truncated``: text was cut."""

    ids: list[list[int]]
    weights: list[list[float]]
    truncated: bool

    @property
    def chunks(self) -> int:
        return len(self.ids)


def _weighted_ids(tokenizer: Any, text: str) -> tuple[list[int], list[float]]:
    """Text token ids (no BOS/EOS) and one weight per token; fragments are tokenized apart so
    each token carries its fragment's weight."""
    ids: list[int] = []
    weights: list[float] = []
    for fragment, weight in parse_weighted_prompt(text):
        if fragment:
            fragment_ids = [int(i) for i in tokenizer(fragment, add_special_tokens=False).input_ids]
            ids.extend(fragment_ids)
            weights.extend([weight] * len(fragment_ids))
    return ids, weights


def chunk_count(tokenizer: Any, text: str, *, max_chunks: int = MAX_CHUNKS) -> int:
    """How many chunks ``text`` needs (1 to ``max_chunks``)."""
    ids, _ = _weighted_ids(tokenizer, text)
    return min(max_chunks, max(1, -(-len(ids) // CHUNK_TOKENS)))


def chunk_tokens(
    tokenizer: Any, text: str, *, chunks: int | None = None, max_chunks: int = MAX_CHUNKS
) -> ChunkedTokens:
    """``text`` in 75-token chunks, each BOS + tokens + EOS + padding, padded with empty
    chunks to ``chunks`` (at least what the text needs, at most ``max_chunks``)."""
    length = int(tokenizer.model_max_length)
    room = length - 2
    bos, eos = int(tokenizer.bos_token_id), int(tokenizer.eos_token_id)
    pad = eos if tokenizer.pad_token_id is None else int(tokenizer.pad_token_id)
    ids, weights = _weighted_ids(tokenizer, text)
    truncated = len(ids) > room * max_chunks
    ids, weights = ids[: room * max_chunks], weights[: room * max_chunks]
    needed = max(1, -(-len(ids) // room))
    count = min(max_chunks, max(needed, chunks or 1))
    rows: list[list[int]] = []
    row_weights: list[list[float]] = []
    for index in range(count):
        part = ids[index * room : (index + 1) * room]
        part_weights = weights[index * room : (index + 1) * room]
        filler = room - len(part)
        rows.append([bos, *part, eos] + [pad] * filler)
        row_weights.append([1.0, *part_weights, 1.0] + [1.0] * filler)
    return ChunkedTokens(rows, row_weights, truncated)


@torch.no_grad()
def encode_chunked(
    tokenizer: Any,
    text_encoder: Any,
    text: str,
    device: torch.device,
    dtype: torch.dtype,
    *,
    chunks: int | None = None,
    max_chunks: int = MAX_CHUNKS,
) -> tuple[torch.Tensor, bool]:
    """The (1, 77 * chunks, dim) embedding of ``text`` with its weights, and ``truncated``.

    Each chunk goes through the encoder on its own (as one batch); weighting follows
    lpw_stable_diffusion: scale each token's embedding by its weight, then rescale the whole
    embedding (padding chunks included, as lpw does) to its unweighted mean. Unweighted
    prompts skip both steps, so a one-chunk prompt is bit-identical to a plain encode.
    """
    tokens = chunk_tokens(tokenizer, text, chunks=chunks, max_chunks=max_chunks)
    ids = torch.tensor(tokens.ids, dtype=torch.long, device=device)
    hidden = text_encoder(ids)[0]  # (chunks, 77, dim)
    embedding = hidden.reshape(1, -1, hidden.shape[-1]).to(dtype)
    flat = [w for row in tokens.weights for w in row]
    if any(w != 1.0 for w in flat):
        weights = torch.tensor(flat, dtype=torch.float32, device=device)
        before = embedding.float().mean()
        weighted = embedding.float() * weights[None, :, None]
        weighted = weighted * (before / weighted.mean())
        embedding = weighted.to(dtype)
    return embedding, tokens.truncated
