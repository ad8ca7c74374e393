"""The engine's faces: ``render``/``generate``/``render_takes`` for asyncio callers (the bot,
the radio) and ``*_sync`` for plain ones (the CLI).

Why apart from the engine: a face only turns a call into queued jobs and waits for their
futures (on the caller's loop, or pumping progress on the caller's thread); it never touches
the queue, the lock or the worker, which ``Engine`` keeps behind ``_submit_group`` and
``cancel``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Generic, cast

from generation.engine_jobs import M, R, Writer, hop_progress, invoke_progress
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    Priority,
    Progress,
    ProgressCallback,
)


class EngineFaces(ABC, Generic[M, R]):
    """What callers call; ``Engine`` supplies the queueing underneath."""

    _writer: Writer[R] | None

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Remove a queued job, or ask a running one to stop."""

    @abstractmethod
    def _submit_group(
        self,
        items: Sequence[
            tuple[GenerationRequest, str, Path | None, Callable[[Progress], None] | None]
        ],
        owner: str,
        priority: Priority,
        group: str | None,
    ) -> list[concurrent.futures.Future[Any]]:
        """Queue every item at once; one future per item."""

    # --- the asyncio face (JobRunner) ------------------------------------------------

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
        """Queue, generate and write the clip's files; raises ``JobCancelled`` if cancelled.

        Raises ``QueueFull``/``OwnerLimit`` at once when the queue refuses the job. Cancelling
        the awaiting task cancels the job.
        """
        if self._writer is None:
            raise RuntimeError("this engine has no writer; use generate() for raw results")
        result = await self._await(request, job_id, owner, out_dir, priority, on_progress)
        return cast(ClipFiles, result)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> R:
        """Like ``render`` but returns the raw result (audio in memory), writing no files."""
        result = await self._await(request, job_id, owner, None, priority, on_progress)
        return cast(R, result)

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
        """Run the takes of one request as one batch; one outcome per take, in order.

        The takes are queued together and count as one job against the owner's limit, so a
        refusal (``OwnerLimit``/``QueueFull``) is raised for the set before anything runs; a
        take that fails or is cancelled later comes back as its error while the others land.
        """
        if self._writer is None:
            raise RuntimeError("this engine has no writer")
        loop = asyncio.get_running_loop()
        emit = None if on_progress is None else partial(hop_progress, loop, on_progress)
        items = [
            (request, job_id, out_dir, emit)
            for request, job_id, out_dir in zip(requests, job_ids, out_dirs, strict=True)
        ]
        futures = self._submit_group(items, owner, priority, f"takes:{job_ids[0]}")
        try:
            done = await asyncio.gather(
                *(asyncio.wrap_future(f) for f in futures), return_exceptions=True
            )
        except asyncio.CancelledError:
            for job_id in job_ids:
                self.cancel(job_id)
            raise
        outcomes: list[ClipFiles | GenerationError] = []
        for outcome in done:
            if isinstance(outcome, GenerationError):
                outcomes.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                outcomes.append(cast(ClipFiles, outcome))
        return outcomes

    def render_takes_sync(
        self,
        requests: Sequence[GenerationRequest],
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        *,
        job_ids: Sequence[str],
        owner: str = "cli",
    ) -> list[ClipFiles]:
        """The CLI's face of ``render_takes``: one batch, files in ``out_dir``, progress of
        every take on the calling thread (``Progress.job_id`` says which)."""
        if self._writer is None:
            raise RuntimeError("this engine has no writer")
        inbox: SimpleQueue[Progress | None] = SimpleQueue()
        emit = None if on_progress is None else inbox.put
        items = [
            (request, job_id, out_dir, emit)
            for request, job_id in zip(requests, job_ids, strict=True)
        ]
        futures = self._submit_group(items, owner, Priority.INTERACTIVE, f"takes:{job_ids[0]}")

        def close_inbox() -> None:
            concurrent.futures.wait(futures)
            inbox.put(None)

        threading.Thread(target=close_inbox, daemon=True).start()
        try:
            while (progress := inbox.get()) is not None:
                if on_progress is not None:
                    invoke_progress(on_progress, progress)
            return [cast(ClipFiles, f.result()) for f in futures]
        except KeyboardInterrupt:
            for job_id in job_ids:
                self.cancel(job_id)
            raise

    # --- the plain face (CLI) --------------------------------------------------------

    def generate_sync(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        owner: str = "cli",
        priority: Priority = Priority.INTERACTIVE,
    ) -> R:
        """Block until the result is ready; progress is delivered on the calling thread."""
        return cast(R, self._wait(request, job_id, owner, None, priority, on_progress))

    def render_sync(
        self,
        request: GenerationRequest,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        owner: str = "cli",
        priority: Priority = Priority.INTERACTIVE,
    ) -> ClipFiles:
        """Block until the clip's files are written; progress on the calling thread."""
        if self._writer is None:
            raise RuntimeError("this engine has no writer; use generate_sync() for raw results")
        return cast(ClipFiles, self._wait(request, job_id, owner, out_dir, priority, on_progress))

    # --- submitting ------------------------------------------------------------------

    async def _await(
        self,
        request: GenerationRequest,
        job_id: str,
        owner: str,
        out_dir: Path | None,
        priority: Priority,
        on_progress: ProgressCallback | None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        emit = None if on_progress is None else partial(hop_progress, loop, on_progress)
        future = self._submit(request, job_id, owner, out_dir, priority, emit)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self.cancel(job_id)
            raise

    def _wait(
        self,
        request: GenerationRequest,
        job_id: str | None,
        owner: str,
        out_dir: Path | None,
        priority: Priority,
        on_progress: ProgressCallback | None,
    ) -> Any:
        job_id = job_id or uuid.uuid4().hex
        inbox: SimpleQueue[Progress | None] = SimpleQueue()
        emit = None if on_progress is None else inbox.put
        future = self._submit(request, job_id, owner, out_dir, priority, emit)
        future.add_done_callback(lambda _: inbox.put(None))
        try:
            if on_progress is not None:
                while (progress := inbox.get()) is not None:
                    invoke_progress(on_progress, progress)
            return future.result()
        except KeyboardInterrupt:
            self.cancel(job_id)
            raise

    def _submit(
        self,
        request: GenerationRequest,
        job_id: str,
        owner: str,
        out_dir: Path | None,
        priority: Priority,
        emit: Callable[[Progress], None] | None,
    ) -> concurrent.futures.Future[Any]:
        return self._submit_group([(request, job_id, out_dir, emit)], owner, priority, None)[0]
