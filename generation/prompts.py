"""Weighted prompts: ``(word:1.3)`` syntax parsed and turned into CLIP embeddings.

The syntax is the one Riffusion copied from diffusers' community ``lpw_stable_diffusion``
(itself from the AUTOMATIC1111 web UI), because that is what people paste from prompt guides:
``(word)`` x1.1, ``[word]`` /1.1, ``(word:1.5)`` explicit, nesting multiplies, a backslash escapes
a bracket. ``encode_weighted`` embeds one 77-token window; the pipeline embeds longer prompts in
chunks, as Riffusion does, through :mod:`generation.text_encoding`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

_ATTENTION_RE = re.compile(
    r"""
    \\\(|\\\)|\\\[|\\\]|\\\\|\\|   # escaped brackets and backslashes
    \(|\[|                          # openers
    :\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|  # explicit weight, closing a round bracket
    \)|\]|                          # closers
    [^\\()\[\]:]+|                  # plain text
    :
    """,
    re.VERBOSE,
)
_ROUND = 1.1
_SQUARE = 1 / 1.1


def parse_weighted_prompt(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into (fragment, weight) pairs; unbalanced brackets still get their weight.

    >>> parse_weighted_prompt("a (jazz:1.5) [piano]")
    [('a ', 1.0), ('jazz', 1.5), (' ', 1.0), ('piano', 0.9090909090909091)]
    """
    pieces: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for match in _ATTENTION_RE.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append([token[1:] or "\\", 1.0])
        elif token == "(":
            round_open.append(len(pieces))
        elif token == "[":
            square_open.append(len(pieces))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply(round_open.pop(), _ROUND)
        elif token == "]" and square_open:
            multiply(square_open.pop(), _SQUARE)
        else:
            pieces.append([token, 1.0])
    for start in round_open:
        multiply(start, _ROUND)
    for start in square_open:
        multiply(start, _SQUARE)

    merged: list[tuple[str, float]] = []
    for fragment, weight in pieces:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + fragment, weight)
        else:
            merged.append((fragment, float(weight)))
    return merged or [("", 1.0)]


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as CLIP sees it: padded ids, a weight per position, and whether it was cut."""

    ids: list[int]
    weights: list[float]
    truncated: bool


def tokenize_weighted(tokenizer: Any, text: str) -> PromptTokens:
    """Token ids (BOS, text, EOS, padding; always ``model_max_length`` long) with weights.

    Fragments are tokenized separately so each token carries its fragment's weight; a prompt
    without brackets is a single fragment, so it tokenizes exactly as the plain pipeline does.
    """
    length = int(tokenizer.model_max_length)
    bos, eos = int(tokenizer.bos_token_id), int(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id
    pad = eos if pad is None else int(pad)
    ids: list[int] = []
    weights: list[float] = []
    for fragment, weight in parse_weighted_prompt(text):
        if not fragment:
            continue
        fragment_ids = tokenizer(fragment, add_special_tokens=False).input_ids
        ids.extend(int(i) for i in fragment_ids)
        weights.extend([weight] * len(fragment_ids))
    room = length - 2
    truncated = len(ids) > room
    ids, weights = ids[:room], weights[:room]
    filler = length - 2 - len(ids)
    return PromptTokens(
        ids=[bos, *ids, eos] + [pad] * filler,
        weights=[1.0, *weights, 1.0] + [1.0] * filler,
        truncated=truncated,
    )


@torch.no_grad()
def encode_weighted(
    tokenizer: Any, text_encoder: Any, text: str, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, bool]:
    """The (1, 77, dim) CLIP embedding of ``text`` with its weights applied, and ``truncated``.

    Weighting follows lpw_stable_diffusion: scale each token's embedding by its weight, then
    rescale the whole embedding so its mean is unchanged, which keeps the overall loudness of
    the conditioning while shifting attention between words. Unweighted prompts skip both
    steps so they are bit-identical to a plain encode.
    """
    tokens = tokenize_weighted(tokenizer, text)
    ids = torch.tensor([tokens.ids], dtype=torch.long, device=device)
    embedding = text_encoder(ids)[0].to(dtype)
    if any(w != 1.0 for w in tokens.weights):
        weights = torch.tensor(tokens.weights, dtype=torch.float32, device=device)
        before = embedding.float().mean()
        weighted = embedding.float() * weights[None, :, None]
        weighted = weighted * (before / weighted.mean())
        embedding = weighted.to(dtype)
    return embedding, tokens.truncated
