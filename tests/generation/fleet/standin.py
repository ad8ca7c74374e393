"""A stand-in generator for fleet tests: a real ``Engine`` whose model sleeps per step.

It runs inside Ray replicas (other processes), so it tells the test what happened by appending
lines to a log file: ``start``/``end``/``cancelled`` with the prompt, the batch size and the
replica's pid. A prompt containing ``oom`` makes the batch raise CUDA's out-of-memory error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generation.engine import CancelCheck, Engine, StepCallback
from generation.oom import guard_out_of_memory
from generation.types import ClipFiles, GenerationRequest, JobCancelled


@dataclass(frozen=True)
class StandInResult:
    prompt: str
    pid: int


@dataclass(frozen=True)
class StandIn:
    """A picklable engine factory (Serve calls it once in each replica)."""

    log: str
    step_s: float = 0.05
    max_batch: int = 4

    def note(self, *words: object) -> None:
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(" ".join(str(word) for word in words) + "\n")

    def run(
        self,
        model: None,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> list[StandInResult | BaseException]:
        prompts = [request.start.prompt for request in requests]
        for prompt in prompts:
            self.note("start", prompt, len(requests), os.getpid())
        if any("oom" in prompt for prompt in prompts):
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        outcomes: list[StandInResult | BaseException | None] = [None] * len(requests)
        total = requests[0].steps
        for step in range(1, total + 1):
            if all(outcome is not None for outcome in outcomes):
                break  # every request in the batch was cancelled
            time.sleep(self.step_s)
            for index, (on_step, cancelled) in enumerate(zip(on_steps, cancels, strict=True)):
                if outcomes[index] is not None:
                    continue
                if cancelled():
                    self.note("cancelled", prompts[index], step, os.getpid())
                    outcomes[index] = JobCancelled("cancelled")
                else:
                    on_step(step, total, None)
        done: list[StandInResult | BaseException] = []
        for prompt, outcome in zip(prompts, outcomes, strict=True):
            if outcome is None:
                self.note("end", prompt, os.getpid())
                outcome = StandInResult(prompt, os.getpid())
            done.append(outcome)
        return done

    def write(self, result: StandInResult, out_dir: Path, stem: str) -> ClipFiles:
        out_dir.mkdir(parents=True, exist_ok=True)
        mp3, raw, picture = (out_dir / f"{stem}{end}" for end in (".mp3", ".png", ".picture.png"))
        for path in (mp3, raw, picture):
            path.write_bytes(f"{path.suffix} of {result.prompt} by {result.pid}".encode())
        record = out_dir / f"{stem}.json"
        record.write_text(f'{{"prompt": "{result.prompt}", "pid": {result.pid}}}')
        return ClipFiles(mp3, raw, picture, record, duration_s=5.11, timings={"generate_s": 0.1})

    def __call__(self) -> Engine[None, StandInResult]:
        return Engine(
            loader=lambda: None,
            batch_runner=guard_out_of_memory(self.run),
            writer=self.write,
            batch_key=lambda request: request.steps,
            cost_steps=lambda request: request.steps,
            max_batch=self.max_batch,
            progress_interval_s=0.0,
        )


def read_log(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
