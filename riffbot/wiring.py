"""Builds the long-lived parts from settings, once, for every command that needs them.

The model loader and the engine are configured here and nowhere else, so ``riffbot run``,
``riffbot radio`` and the generation commands load the same model the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generation.engine import Engine
    from generation.models import LoadedModel
    from generation.results import GenerationResult
    from riffbot.settings import Settings


def load_model_from_settings(
    settings: Settings,
    *,
    source: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> LoadedModel:
    """The model the settings name, or ``source``/``device`` where a command overrides them."""
    from generation.models import load_model

    return load_model(
        source or settings.model,
        device=device or settings.device,
        dtype=settings.dtype,
        revision=settings.model_revision,
        cache_dir=settings.model_cache_dir,
        compile=settings.compile,
        progress=progress,
    )


def build_engine(settings: Settings) -> Engine[LoadedModel, GenerationResult]:
    """The one engine the bot and the radio share; the model loads in its worker thread."""
    from generation.engine import pipeline_engine

    return pipeline_engine(
        lambda: load_model_from_settings(settings, progress=False),
        max_audio_seconds=settings.max_audio_seconds,
        max_batch=settings.engine_max_batch,
        max_queued=settings.max_queue_length,
        max_per_owner=settings.max_active_jobs_per_user,
        max_per_radio_owner=settings.engine_max_radio_jobs_per_guild,
        radio_every=settings.engine_radio_every,
        progress_interval_s=settings.engine_progress_interval_s,
    )
