"""The request and result types that cross the boundary between the bot, the CLI and the engine.

Everything here is plain data (no tensors, no arrays), so the Discord layer and the database
can hold, store and rebuild requests without importing torch. One request type serves every
kind of generation: riff, blend, loop, extend, remix and variation are settings of the same
denoising loop, not separate code paths.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

MAX_SEED = 2**32 - 1


class Mode(enum.StrEnum):
    RIFF = "riff"
    BLEND = "blend"
    LOOP = "loop"
    EXTEND = "extend"
    REMIX = "remix"
    VARIATION = "variation"
    RADIO = "radio"


class Priority(enum.IntEnum):
    """Lower runs first. Radio prefetch is background work with a guaranteed share."""

    INTERACTIVE = 0
    RADIO = 1


@dataclass(frozen=True)
class Endpoint:
    """One end of an interpolation; a plain riff is a request whose only endpoint is ``start``."""

    prompt: str
    seed: int
    strength: float = 0.75
    guidance: float = 7.0


@dataclass(frozen=True)
class GenerationRequest:
    """Everything needed to make a clip again, bit for bit, on the same model and device.

    ``seed_image`` is the name of a shipped seed image, or a path to a PNG spectrogram or an
    audio file; ``None`` means plain txt2img. Extend and variation point it at the parent's
    raw PNG; remix points it at the uploaded audio. A blend with ``clips`` > 1 is a
    transition track: that many clips at evenly spaced alphas from 0 to 1, joined end to end
    (``alpha`` is then unused).
    """

    mode: Mode
    start: Endpoint
    end: Endpoint | None = None
    alpha: float = 0.0
    negative_prompt: str = ""
    steps: int = 50
    scheduler: str = "pndm"
    seed_image: str | None = "og_beat"
    mask: str | None = None
    width: int = 512
    extend_keep: float = 0.5
    clips: int = 1

    def with_alpha(self, alpha: float) -> GenerationRequest:
        return replace(self, alpha=alpha)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationRequest:
        values = dict(data)
        values["mode"] = Mode(values["mode"])
        values["start"] = Endpoint(**values["start"])
        if values.get("end") is not None:
            values["end"] = Endpoint(**values["end"])
        return cls(**values)


@dataclass(frozen=True)
class Progress:
    """A snapshot for the person waiting: where the job is and how long it will take."""

    job_id: str
    state: str  # "queued" | "running" | "encoding"
    step: int = 0
    total_steps: int = 0
    position: int | None = None
    eta_s: float | None = None
    preview_png: bytes | None = None
    # Why a job waits, in words (the generation cluster is unreachable, a re-run after a fault).
    note: str | None = None


@dataclass(frozen=True)
class ClipFiles:
    """What a finished job leaves on disk: all a post, a replay or a remix needs."""

    mp3: Path
    raw_png: Path
    picture_png: Path | None
    """The readable picture; ``None`` for clips nobody looks at (radio clips)."""
    params_json: Path
    duration_s: float
    timings: Mapping[str, float] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], None]


class JobRunner(Protocol):
    """The engine's asyncio face, as the bot sees it: requests in, files out, never blocking."""

    async def render(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        out_dir: Path,
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> ClipFiles:
        """Queue, generate and write the clip's files; raises ``JobCancelled`` if cancelled."""
        ...

    async def render_takes(
        self,
        requests: Sequence[GenerationRequest],
        *,
        job_ids: Sequence[str],
        owner: str,
        out_dirs: Sequence[Path],
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> list[ClipFiles | GenerationError]:
        """The takes of one request as one batch, counted as one job; an outcome per take.

        Raises ``QueueFull``/``OwnerLimit`` for the whole set; a take's own failure (or
        cancel) comes back in its place.
        """
        ...

    def cancel(self, job_id: str) -> bool:
        """Ask a queued or running job to stop; ``False`` when the job is unknown or done."""
        ...

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, 0 while running, ``None`` when unknown."""
        ...


class GenerationError(Exception):
    """A failure whose message is safe and useful to show to the person who asked."""


class InvalidRequest(GenerationError):
    """The request can never succeed as given (bad prompt, missing seed image, bad audio)."""


class JobCancelled(GenerationError):
    """The job was cancelled before it finished."""


class ModelError(GenerationError):
    """The model could not be found, read or placed on the device; the message says what to do."""
