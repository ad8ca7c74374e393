"""Shared fixtures for generation tests: the tiny model, built once and loaded from disk.

The model is saved and loaded back through :func:`generation.models.load_model`, so every test
that uses it runs the same loading code that users run on the real Riffusion checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before diffusers/huggingface_hub are imported (they read it once): tests never reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"

from generation.models import LoadedModel, load_model
from generation.tiny import make_tiny


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved in riffusion-model-v1's layout, built once per test session."""
    return make_tiny(tmp_path_factory.mktemp("tiny-model") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_session(tiny_model_dir: Path) -> LoadedModel:
    """One loaded tiny model shared by the session: only for tests that do not modify it."""
    return load_model(str(tiny_model_dir), device="cpu", dtype="float32", progress=False)


@pytest.fixture
def tiny_model(tiny_model_dir: Path, tmp_path: Path) -> LoadedModel:
    """A freshly loaded tiny model (about 0.5 s), safe to patch (circular padding, hooks...)."""
    return load_model(
        "tiny",
        tiny_dir=tiny_model_dir,
        cache_dir=tmp_path / "cache",
        device="cpu",
        dtype="float32",
        progress=False,
    )
