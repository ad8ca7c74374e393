"""The tiny model as a replica's engine, for the bot's end-to-end tests on the fleet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generation.engine import Engine
from generation.pipeline_engine import pipeline_engine


@dataclass(frozen=True)
class TinyEngine:
    """A picklable engine factory: each replica loads the tiny model from ``model_dir``."""

    model_dir: str

    def __call__(self) -> Engine[Any, Any]:
        from generation.models import load_model

        return pipeline_engine(
            lambda: load_model(self.model_dir, device="cpu", dtype="float32", progress=False),
            max_per_owner=2,
            max_queued=6,
            progress_interval_s=0.0,
        )
