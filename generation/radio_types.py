"""The radio's plain types: frame format, status, snapshot and hooks, with no numpy.

``generation.radio`` produces them and ``bot.radio`` consumes them; both import them from here,
so the Discord side never loads audio arrays and never mirrors these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from generation.radio_plan import RadioState
from generation.types import ClipFiles, GenerationRequest

OUTPUT_RATE = 48_000
CHANNELS = 2
FRAME_MS = 20
FRAME_SAMPLES = OUTPUT_RATE * FRAME_MS // 1000  # 960
FRAME_BYTES = FRAME_SAMPLES * CHANNELS * 2  # 3,840: discord.opus.Encoder.FRAME_SIZE


class StationHooks(Protocol):
    """Where the bot records the radio: one job per clip with its parent, and the resume point."""

    async def clip_requested(self, request: GenerationRequest, parent_job_id: str | None) -> str:
        """Record a queued clip job and return its id."""
        ...

    async def clip_finished(self, job_id: str, error: str | None, files: ClipFiles | None) -> None:
        """Mark the job done (``error`` None; ``files`` when the generator kept them) or failed."""
        ...

    async def clip_playing(self, job_id: str, state: RadioState) -> None:
        """The clip started playing; ``state`` is where a restart should resume."""
        ...


@dataclass(frozen=True)
class StationStatus:
    """A snapshot for ``/radio status``: plain data, no arrays."""

    now_playing: str | None
    now_job_id: str | None
    morphing_to: str | None
    up_next: tuple[str, ...]
    buffered_clips: int
    buffered_seconds: float
    ahead: int
    underruns: int
    clips_played: int
    seconds_played: float
    generating: bool
    paused: bool
    last_error: str | None
    state: RadioState
    volume: float = 1.0

    @property
    def health(self) -> str:
        if self.buffered_clips >= self.ahead:
            return "full"
        if self.buffered_clips > 0:
            return "filling"
        return "behind"


@dataclass(frozen=True)
class StationSnapshot:
    """The last seconds heard, as 48 kHz s16le stereo, and the jobs that made them."""

    pcm: bytes
    sample_rate: int
    job_ids: tuple[str, ...]
    requests: tuple[GenerationRequest, ...]

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (self.sample_rate * 4)


class Station(Protocol):
    """One guild's station as its driver sees it (``generation.radio.RadioStation``)."""

    def read(self) -> bytes:
        """One 20 ms frame of :data:`FRAME_BYTES`; called from the player thread."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def queue_prompt(self, prompt: str) -> int: ...

    def skip(self, idle_seed: int) -> None:
        """Morph from the clip playing now into the next wish (or ``idle_seed``) at once."""
        ...

    def new_seed(self, seed: int) -> None: ...

    def set_volume(self, volume: float) -> None:
        """The listener's gain (1.0 = as generated), reached smoothly."""
        ...

    def strip_png(self, seconds: float = 20.0) -> bytes | None:
        """A small picture of the last ``seconds`` of spectrogram (None before any image)."""
        ...

    def status(self) -> StationStatus: ...

    def snapshot(self, seconds: float = 25.0) -> StationSnapshot: ...

    def resume_state(self) -> RadioState: ...
