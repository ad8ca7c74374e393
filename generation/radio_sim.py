"""Stand-ins for exercising the radio without a model: a synthetic generator and virtual time.

The radio's hard cases are about timing (a generator only just faster than real time, a
stall, a burst of prompts), and waiting for them in real time would make tests slow and
flaky. ``VirtualTimeLoop`` is an asyncio loop whose clock only moves when every task is
waiting on a timer, so ten minutes of radio run in seconds and always the same way.
``SyntheticGenerator`` makes deterministic music-like clips (a chord with a beat, which
starts and ends at arbitrary phase so that a butt join would click) at a set real-time factor.
"""

from __future__ import annotations

import asyncio
import hashlib
import selectors
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from generation.params import SpectrogramParams
from generation.types import GenerationRequest

CLIP_WIDTH = 512


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without waiting; a wait on timers jumps the clock instead."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if events:
            return events
        if timeout is None:
            # Nothing scheduled: only another thread can wake us, so wait for it for real.
            return super().select(None)
        self._clock.now += max(0.0, timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a simulated clock: ``asyncio.sleep(300)`` returns at once, 300 s later."""

    def __init__(self) -> None:
        self._virtual_clock = _Clock()
        super().__init__(_VirtualSelector(self._virtual_clock))

    def time(self) -> float:
        return self._virtual_clock.now


@dataclass(frozen=True)
class SyntheticClip:
    audio: npt.NDArray[np.float32]
    sample_rate: int
    job_id: str = ""


def _unit(*parts: Any) -> float:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def synth_clip(
    request: GenerationRequest, params: SpectrogramParams | None = None, width: int = CLIP_WIDTH
) -> npt.NDArray[np.float32]:
    """A stereo clip whose sound depends on the request's prompts, seeds and alpha.

    Interpolating the chord between the endpoints means neighbouring clips of a walk sound
    alike, like the model's; the random start and end phases make seams audible unless they
    are crossfaded.
    """
    p = params or SpectrogramParams()
    n = p.samples_for_width(width)
    sr = p.sample_rate
    t = np.arange(n, dtype=np.float64) / sr
    a = request.alpha
    end = request.end or request.start

    def root(prompt: str, seed: int) -> float:
        return 110.0 * 2 ** (_unit(prompt) * 1.5 + _unit(seed) * 0.25)

    f0 = (1 - a) * root(request.start.prompt, request.start.seed) + a * root(end.prompt, end.seed)
    phase = 2 * np.pi * _unit(request.to_dict()["start"], request.alpha)
    beat = 0.55 + 0.45 * np.exp(-((t * (94.0 / 60.0)) % 1.0) * 6.0)
    left = np.zeros(n)
    right = np.zeros(n)
    for k, ratio in enumerate((1.0, 1.25, 1.5, 2.0)):
        left += np.sin(2 * np.pi * f0 * ratio * t + phase + k) / (k + 2)
        right += np.sin(2 * np.pi * f0 * ratio * 1.003 * t + phase * 1.7 + k) / (k + 2)
    stereo = np.stack((left, right)) * beat * 0.35
    return stereo.astype(np.float32)


class SyntheticGenerator:
    """A stand-in for the engine: ``await gen(request, job_id)`` -> clip, at ``rtf`` x real time.

    ``rtf`` None returns at once; ``rtf`` 1.2 takes 1/1.2 of the clip's duration on the
    running loop's clock (virtual under ``VirtualTimeLoop``). ``fail_next`` makes the next
    calls raise, to exercise retries.
    """

    def __init__(self, rtf: float | None = None, params: SpectrogramParams | None = None) -> None:
        self.rtf = rtf
        self.params = params or SpectrogramParams()
        self.requests: list[GenerationRequest] = []
        self.fail_next = 0

    @property
    def clip_seconds(self) -> float:
        return self.params.samples_for_width(CLIP_WIDTH) / self.params.sample_rate

    async def __call__(self, request: GenerationRequest, job_id: str) -> SyntheticClip:
        if self.rtf is not None:
            await asyncio.sleep(self.clip_seconds / self.rtf)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("synthetic generator failure")
        self.requests.append(request)
        return SyntheticClip(synth_clip(request, self.params), self.params.sample_rate, job_id)
