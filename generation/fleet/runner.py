"""The caller's side of the fleet: the in-process engine's faces, over a Serve handle.

``FleetRunner`` is what the bot and the radio hold when ``RIFFBOT_ENGINE=ray``: ``render``
(files written here, from the bytes a replica returns), ``generate`` (the raw result, for the
radio), ``cancel`` and ``position``. Three faults are handled here, because only the caller
knows a job is still wanted:

* The cluster cannot be reached (no Ray, the application not deployed): the job waits, its
  progress says so in words, and it runs when the cluster is back. No attempt is spent.
* The replica's stream breaks (the replica died, was killed, its node went away): the job is
  sent again, at most ``max_attempts`` times in all. Serve routes it to a live replica; the job
  id makes it idempotent, and the first outcome ends the job, so the user gets one result.
* The job fails on a live replica (bad input, out of GPU memory, cancelled): that is an answer,
  not a fault; it is raised as the same ``GenerationError`` the in-process engine would raise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from generation.engine import CANCELLED
from generation.fleet.files import stem_for, write_clip
from generation.fleet.wire import Accepted, ClipBytes, Done, Failed, JobOrder, Want
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    Priority,
    Progress,
    ProgressCallback,
)

log = logging.getLogger(__name__)

UNREACHABLE = (
    "The generation cluster cannot be reached right now; your job is kept and will run as "
    "soon as it is back."
)
RETRYING = "A generator stopped while working on this job; running it again (try {n} of {m})."
GAVE_UP = "The generators failed {m} times on this job; it has been logged. Please try again."


class Handle(Protocol):
    """What the runner needs of a Serve ``DeploymentHandle``."""

    def options(self, *, stream: bool) -> Any: ...


Connector = Callable[[], Handle]
"""Joins the cluster and returns the application's handle; raises while it cannot (blocking,
so it runs in a thread)."""


@dataclass(eq=False)
class _Track:
    task: asyncio.Task[Any] | None = None  # the caller's task, which ``cancel`` cancels
    position: int | None = None
    replica: str | None = None
    cancelled: bool = False


class FleetRunner:
    """Runs jobs on a Serve deployment of ``EngineReplica``; same faces as ``Engine``."""

    def __init__(
        self,
        connect: Connector,
        *,
        max_attempts: int = 3,
        reconnect_s: float = 5.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._connect = connect
        self._max_attempts = max_attempts
        self._reconnect_s = reconnect_s
        self._handle: Any = None  # the streaming handle, once connected
        self._connecting: asyncio.Lock | None = None
        self._jobs: dict[str, _Track] = {}

    # --- lifecycle (the in-process engine's, so ``riffbot run`` treats both alike) -------

    def start(self, *, preload: bool = False) -> None:
        """Nothing to start: the cluster is joined on the first job (and re-joined after)."""

    def close(self, **_: Any) -> None:
        """Running jobs are the cluster's; their callers' tasks end with the event loop."""

    async def aclose(self, **_: Any) -> None:
        """As :meth:`close`: nothing of the cluster's is this process's to stop."""

    # --- the engine's faces ---------------------------------------------------------------

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
        """Run the job on a replica and write the clip it returns into ``out_dir``."""
        order = JobOrder(job_id, owner, request, priority, Want.FILES)
        clip: ClipBytes = await self._run(order, on_progress)
        return await asyncio.to_thread(write_clip, clip, out_dir, stem_for(job_id))

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
        """The takes of one request, one outcome per take in order.

        On the fleet each take is a job of its own, so a set may spread over replicas (each
        is batched with whatever shares its replica) instead of waiting for one. The set
        counts once against the user's limit where it is admitted (the bot checks before
        anything is sent); on the replica each take gets an owner of its own, so a replica's
        per-owner cap never refuses part of a set.
        """

        async def one(n: int, request: GenerationRequest, job_id: str, out_dir: Path) -> Any:
            try:
                return await self.render(
                    request,
                    job_id=job_id,
                    owner=f"{owner}/take{n}",
                    out_dir=out_dir,
                    priority=priority,
                    on_progress=on_progress,
                )
            except GenerationError as error:  # that take's failure; the others still land
                return error

        takes = zip(requests, job_ids, out_dirs, strict=True)
        return list(await asyncio.gather(*(one(n, *take) for n, take in enumerate(takes, 1))))

    async def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        """The raw result (audio in memory), for callers that write their own files."""
        return await self._run(JobOrder(job_id, owner, request, priority, Want.RESULT), on_progress)

    def cancel(self, job_id: str) -> bool:
        """Stop a job: cancelling its stream makes Serve cancel it on the replica."""
        track = self._jobs.get(job_id)
        if track is None or track.task is None or track.task.done():
            return False
        track.cancelled = True
        track.task.cancel()
        return True

    def position(self, job_id: str) -> int | None:
        """1-based place in its replica's queue, 0 while running, ``None`` when unknown."""
        track = self._jobs.get(job_id)
        return None if track is None else track.position

    def replica_of(self, job_id: str) -> str | None:
        """The replica working on the job now (its Serve replica id), if any."""
        track = self._jobs.get(job_id)
        return None if track is None else track.replica

    # --- driving one job ------------------------------------------------------------------

    async def _run(self, order: JobOrder, on_progress: ProgressCallback | None) -> Any:
        if order.job_id in self._jobs:
            raise GenerationError(f"Job {order.job_id} is already running.")
        # The job runs in the caller's own task (no helper task), so whoever drives the caller
        # (an event loop, SimCord) sees one wait; ``cancel`` cancels that task.
        track = self._jobs[order.job_id] = _Track(task=asyncio.current_task())
        try:
            return await self._drive(order, track, on_progress)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if track.cancelled and task is not None and task.uncancel() == 0:
                raise JobCancelled(CANCELLED) from None
            raise
        finally:
            self._jobs.pop(order.job_id, None)

    async def _drive(
        self, order: JobOrder, track: _Track, on_progress: ProgressCallback | None
    ) -> Any:
        def emit(progress: Progress) -> None:
            if progress.state == "queued":
                track.position = progress.position
            else:
                track.position = 0
            if on_progress is not None:
                try:
                    on_progress(progress)
                except Exception:
                    log.exception("progress callback for job %s failed", order.job_id)

        attempt = 0
        while True:
            handle = await self._handle_or_wait(order.job_id, emit)
            attempt += 1
            stream = handle.run.remote(order)
            try:
                async for event in stream:
                    if isinstance(event, Accepted):
                        track.replica = event.replica
                    elif isinstance(event, Progress):
                        emit(event)
                    elif isinstance(event, Done):
                        return event.value
                    elif isinstance(event, Failed):
                        raise _as_error(event)
                raise ConnectionError("the replica's stream ended without an outcome")
            except (GenerationError, asyncio.CancelledError):
                raise
            except Exception as error:
                log.warning(
                    "job %s: replica %s failed (%s), try %d of %d",
                    order.job_id,
                    track.replica,
                    type(error).__name__,
                    attempt,
                    self._max_attempts,
                )
                track.replica = None
                self._handle = None  # check the cluster is there before the next try
                if attempt >= self._max_attempts:
                    raise GenerationError(GAVE_UP.format(m=self._max_attempts)) from error
                note = RETRYING.format(n=attempt + 1, m=self._max_attempts)
                emit(Progress(order.job_id, "queued", note=note))
            finally:
                stream.cancel()  # a no-op once it finished; carries a cancel to the replica

    async def _handle_or_wait(self, job_id: str, emit: Callable[[Progress], None]) -> Any:
        """The cluster's streaming handle; while it cannot be reached, say so once and retry."""
        told = False
        while True:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._handle is None:
                    try:
                        handle = await asyncio.to_thread(self._connect)
                        self._handle = handle.options(stream=True)  # made once, reused
                    except Exception as error:
                        if not told:
                            log.warning("generation cluster unreachable: %s", error)
                    else:
                        log.info("connected to the generation cluster")
                if self._handle is not None:
                    return self._handle
            if not told:
                told = True
                emit(Progress(job_id, "queued", note=UNREACHABLE))
            await asyncio.sleep(self._reconnect_s)


def _as_error(failed: Failed) -> GenerationError:
    if failed.kind == "cancelled":
        return JobCancelled(failed.message)
    return GenerationError(failed.message)
