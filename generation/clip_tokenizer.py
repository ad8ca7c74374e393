"""The SD1.x CLIP tokenizer, rebuilt offline from OpenAI's BPE file that ships in this package.

Stable Diffusion v1.x (and so Riffusion) tokenizes with ``openai/clip-vit-large-patch14``. Its
``vocab.json``/``merges.txt`` are a pure function of ``bpe_simple_vocab_16e6.txt.gz`` (MIT,
OpenAI; see ``assets/LICENSE-CLIP.txt``), so shipping that 1.3 MB file lets the tiny test model
and the config-only SD1.5 directory use the *real* tokenizer without ever reaching a model hub.
The construction mirrors ``clip/simple_tokenizer.py``.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
BOS_ID = 49406
EOS_ID = 49407
VOCAB_SIZE = 49408
MODEL_MAX_LENGTH = 77
# CLIP keeps the first 49152 - 256 - 2 merges; line 0 of the file is a version header.
_N_MERGES = 49152 - 256 - 2


def bpe_path() -> Path:
    """Where the shipped BPE file lives (inside the installed package)."""
    return Path(str(resources.files("generation") / "assets" / BPE_FILENAME))


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character table, in CLIP's (dict) order."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def read_merges(bpe: Path | None = None) -> list[str]:
    """The 48,894 merge rules, each ``"left right"``, in priority order."""
    lines = gzip.decompress((bpe or bpe_path()).read_bytes()).decode("utf-8").split("\n")
    return lines[1 : _N_MERGES + 1]


def build_vocab(merges: list[str]) -> dict[str, int]:
    """Token -> id exactly as OpenAI's tokenizer numbers them (49,408 entries)."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(m.split()) for m in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    return {tok: i for i, tok in enumerate(tokens)}


def tokenizer_config() -> dict[str, object]:
    """The ``tokenizer_config.json`` the SD1.x repositories carry."""
    return {
        "add_prefix_space": False,
        "bos_token": BOS_TOKEN,
        "do_lower_case": True,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": MODEL_MAX_LENGTH,
        "pad_token": EOS_TOKEN,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": EOS_TOKEN,
    }


def write_tokenizer_files(directory: Path, bpe: Path | None = None) -> Path:
    """Write ``vocab.json``, ``merges.txt`` and the configs in the layout of the SD1.x repos.

    Writing the same four files the real checkpoints carry (rather than transformers'
    ``tokenizer.json``) means the tiny model exercises the tokenizer loading path of real models.
    """
    directory.mkdir(parents=True, exist_ok=True)
    merges = read_merges(bpe)
    (directory / "vocab.json").write_text(
        json.dumps(build_vocab(merges), ensure_ascii=False), encoding="utf-8"
    )
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    (directory / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8"
    )
    special = {
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
    }
    (directory / "special_tokens_map.json").write_text(
        json.dumps(special, indent=2) + "\n", encoding="utf-8"
    )
    return directory
