"""The job engine: one worker thread owns the model; asyncio and plain callers queue work on it.

Why one thread: the model is large, a GPU runs one batch at a time anyway, and owning it from a
single thread means no locks around torch. Everything model-specific is injected (a loader, a
batch runner, a file writer, a batch-key function), so the engine is tested with stand-ins and
works with whatever pipeline is plugged in; ``pipeline_engine`` wires the real one.

Threads and loops:

* The worker thread loads the model (once, on first use or at ``start(preload=True)``), picks
  batches from the ``FairQueue`` and runs them. It holds the engine lock only for queue
  bookkeeping, never while generating, so ``render``/``cancel``/``position`` called from an
  event loop return at once.
* Results reach asyncio callers through ``concurrent.futures.Future`` + ``asyncio.wrap_future``
  (a ``call_soon_threadsafe`` hop); progress is hopped onto the caller's loop the same way, so a
  bot's callback may touch discord.py objects directly. Sync callers (the CLI) get progress on
  their own thread too: ``generate_sync`` pumps it from an inbox while it waits.
* Everything after the model's part can run beside it: a batch runner may return, for a
  request, a ``concurrent.futures.Future`` of its result instead of the result (the real
  pipeline does, for phase reconstruction and pictures in a process pool), and the worker picks
  the next batch at once. A second thread, the delivery thread, waits for those futures in the
  order the jobs ran, then writes files (MP3 encoding, PNGs), so results, progress and files
  come out in the same order as before, and a failed post-processing fails that job only.

Progress is throttled per job: the first event, the last step and state changes always go out;
other steps at most once every ``progress_interval_s``. Previews are produced lazily, only for
the events that go out, because rendering one costs a VAE decode.

Cancellation is cooperative: a queued job is removed at once; a running one gets its cancel
check turned on and its awaiter receives ``JobCancelled`` while batch-mates carry on.

Rooms: this module is the worker, the queue bookkeeping and the delivery thread;
``engine_faces`` holds the asyncio and sync faces, ``engine_jobs`` the job record and the types
and messages shared with runners, and ``pipeline_engine`` the wiring of the real pipeline. The
shared names are re-exported here, so ``from generation.engine import CancelCheck`` keeps working.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from generation.engine_faces import EngineFaces
from generation.engine_jobs import (
    CANCELLED,
    GENERIC_FAILURE,
    LOAD_FAILURE,
    SHUTTING_DOWN,
    BatchRunner,
    CancelCheck,
    EngineClosed,
    EngineJob,
    M,
    Preview,
    R,
    StepCallback,
    Writer,
    file_stem,
    nominal_steps,
    unbatched,
)
from generation.scheduling import FairQueue, QueueView
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    Priority,
    Progress,
)

__all__ = [
    "CANCELLED",
    "GENERIC_FAILURE",
    "LOAD_FAILURE",
    "SHUTTING_DOWN",
    "BatchRunner",
    "CancelCheck",
    "Engine",
    "EngineClosed",
    "Preview",
    "StepCallback",
    "Writer",
    "nominal_steps",
    "unbatched",
]

log = logging.getLogger(__name__)


class Engine(EngineFaces[M, R]):
    """One model, one worker thread, a fair queue, and faces for asyncio and for plain code.

    ``loader()`` returns the model (called in the worker); ``batch_runner(model, requests,
    on_steps, cancel_checks)`` returns one result or exception per request; ``writer(result,
    out_dir, stem)`` writes a result's files for ``render``; ``batch_key(request)`` says which
    requests may share a batch (equal keys), at most ``max_batch`` at a time. Queue limits and
    the radio share are the ``FairQueue``'s (see ``generation.scheduling``). Without
    ``autostart`` jobs wait in the queue until ``start()`` (e.g. to re-queue a restored backlog
    before the first pick). A runner may return futures (post-processing elsewhere); at most
    ``max_in_post`` of them are pending before the next pick waits; ``on_closed`` runs once
    the engine has closed and drained (e.g. to close the post-processing pool).
    """

    def __init__(
        self,
        *,
        loader: Callable[[], M],
        batch_runner: BatchRunner[M, R],
        writer: Writer[R] | None = None,
        batch_key: Callable[[GenerationRequest], Hashable] = unbatched,
        cost_steps: Callable[[GenerationRequest], int] = nominal_steps,
        validate: Callable[[GenerationRequest], GenerationRequest] | None = None,
        max_batch: int = 1,
        max_queued: int = 50,
        max_per_owner: int = 2,
        max_per_radio_owner: int = 4,
        radio_every: int = 3,
        progress_interval_s: float = 0.5,
        initial_seconds_per_step: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        autostart: bool = True,
        name: str = "riffbot-engine",
        on_closed: Callable[[], None] | None = None,
        max_in_post: int | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._loader = loader
        self._batch_runner = batch_runner
        self._writer = writer
        self._batch_key = batch_key
        self._cost_steps = cost_steps
        self._validate = validate
        self._max_batch = max_batch
        self._interval = progress_interval_s
        self._clock = clock
        self._name = name
        self._autostart = autostart
        self._on_closed = on_closed
        self._max_in_post = max_in_post
        self._in_post = 0
        self.busy_seconds = 0.0
        """Wall time the worker has spent running batches (not waiting), for benchmarks."""
        self._queue: FairQueue[EngineJob] = FairQueue(
            max_queued=max_queued,
            max_per_owner=max_per_owner,
            max_per_radio_owner=max_per_radio_owner,
            radio_every=radio_every,
            initial_seconds_per_step=initial_seconds_per_step,
        )
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, EngineJob] = {}
        self._thread: threading.Thread | None = None
        self._encoder: ThreadPoolExecutor | None = None
        self._finisher: ThreadPoolExecutor | None = None
        self._closing = False
        self._preload = False
        self._model: M | None = None
        self._model_loaded = False
        self._last_sweep = float("-inf")

    # --- lifecycle -------------------------------------------------------------------

    def start(self, *, preload: bool = False) -> None:
        """Start the worker (idempotent); ``preload`` loads the model now, not on first use."""
        with self._lock:
            if self._closing:
                raise EngineClosed("The generator has been shut down.")
            if self._thread is not None:
                return
            self._preload = preload
            self._encoder = ThreadPoolExecutor(1, thread_name_prefix=f"{self._name}-delivery")
            self._finisher = ThreadPoolExecutor(1, thread_name_prefix=f"{self._name}-finish")
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    def shutdown(self, *, finish_queued: bool = False, cancel_running: bool = False) -> None:
        """Stop taking jobs, without waiting (safe to call on the event loop).

        By default queued jobs fail at once with ``JobCancelled`` (their awaiters learn it now,
        and a bot can re-queue them after a restart) while the running batch finishes and is
        delivered. ``finish_queued`` runs the whole queue first; ``cancel_running`` also asks
        the running batch to stop. The worker exits once nothing is left to run.
        """
        with self._lock:
            self._closing = True
            never_started = self._thread is None  # nobody would ever run the queue
            dropped = [] if finish_queued and not never_started else self._queue.drain()
            for entry in dropped:
                self._jobs.pop(entry.job_id, None)
            if cancel_running:
                for job in self._jobs.values():
                    if job.phase == "running":
                        job.cancel_event.set()
            self._wake.notify_all()
        for entry in dropped:
            self._resolve(entry.payload, error=JobCancelled(SHUTTING_DOWN))

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker (up to ``timeout``), then for deliveries and writes to drain."""
        thread, encoder, finisher = self._thread, self._encoder, self._finisher
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            for stage in (encoder, finisher):  # deliveries hand writes on to the finisher
                if stage is not None:
                    stage.shutdown(wait=True)
            if self._on_closed is not None and self._closing:
                self._on_closed()

    def close(
        self,
        *,
        finish_queued: bool = False,
        cancel_running: bool = False,
        timeout: float | None = None,
    ) -> None:
        """``shutdown`` then ``join``: blocks; from asyncio use ``aclose``."""
        self.shutdown(finish_queued=finish_queued, cancel_running=cancel_running)
        self.join(timeout)

    async def aclose(self, *, finish_queued: bool = False, cancel_running: bool = False) -> None:
        """``shutdown`` at once, then wait for the worker without blocking the event loop."""
        self.shutdown(finish_queued=finish_queued, cancel_running=cancel_running)
        await asyncio.to_thread(self.join)

    def __enter__(self) -> Engine[M, R]:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model_loaded(self) -> bool:
        return self._model_loaded

    def cancel(self, job_id: str) -> bool:
        """Remove a queued job, or ask a running one to stop; ``False`` if unknown or done."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.phase == "encoding":
                return False
            if self._queue.cancel(job_id) is None:
                job.cancel_event.set()
                return True
            del self._jobs[job_id]
            self._notify_positions()
        self._resolve(job, error=JobCancelled(CANCELLED))
        return True

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, 0 while running, ``None`` when unknown or done."""
        with self._lock:
            return self._queue.position(job_id)

    def eta(self, job_id: str) -> float | None:
        """Predicted seconds until the job is done; ``None`` without timing history."""
        with self._lock:
            return self._queue.eta(job_id)

    def snapshot(self) -> list[QueueView]:
        """Running jobs, then waiting ones in the order they will run (for ``/queue``)."""
        with self._lock:
            return self._queue.snapshot()

    def _submit_group(
        self,
        items: Sequence[
            tuple[GenerationRequest, str, Path | None, Callable[[Progress], None] | None]
        ],
        owner: str,
        priority: Priority,
        group: str | None,
    ) -> list[concurrent.futures.Future[Any]]:
        """Queue every item under one lock, so the worker cannot pick a group half-submitted."""
        # Every road in (bot, radio, CLI) passes here, so nothing invalid is ever queued.
        requests = [self._validate(r) if self._validate else r for r, _, _, _ in items]
        if self._autostart:
            self.start()
        now = self._clock()
        jobs = [
            EngineJob(
                job_id=job_id,
                owner=owner,
                priority=priority,
                request=request,
                out_dir=out_dir,
                future=concurrent.futures.Future(),
                emit=emit,
                submitted_at=now,
                cancel_event=threading.Event(),
            )
            for request, (_, job_id, out_dir, emit) in zip(requests, items, strict=True)
        ]
        with self._lock:
            if self._closing:
                raise EngineClosed("The generator is shutting down; please try again later.")
            queued: list[EngineJob] = []
            try:
                for job in jobs:
                    self._queue.submit(
                        job.job_id,
                        owner=owner,
                        priority=priority,
                        batch_key=self._batch_key(job.request),
                        cost_steps=self._cost_steps(job.request),
                        payload=job,
                        group=group,
                    )
                    queued.append(job)
            except GenerationError:
                for job in queued:  # all of a group or none of it
                    self._queue.cancel(job.job_id)
                raise
            for job in jobs:
                self._jobs[job.job_id] = job
            for job in jobs:
                position = self._queue.position(job.job_id)
                job.last_position = position
                job.last_emit = now
                eta = self._queue.eta(job.job_id)
                self._emit(job, Progress(job.job_id, "queued", position=position, eta_s=eta))
            self._wake.notify()
        return [job.future for job in jobs]

    # --- the worker ------------------------------------------------------------------

    def _work(self) -> None:
        try:
            if self._preload:
                try:
                    self._load()
                except Exception:  # jobs will retry the load and report the error themselves
                    log.exception("preloading the model failed")
            while True:
                with self._lock:
                    while not (self._queue.waiting_count() and self._post_has_room()):
                        if self._closing and not self._queue.waiting_count():
                            return  # closing, and nothing (left) to finish
                        self._wake.wait()
                    batch = [entry.payload for entry in self._queue.pick_batch(self._max_batch)]
                    for job in batch:
                        job.phase = "running"
                        job.batch_size = len(batch)
                    self._notify_positions()
                started = time.perf_counter()
                self._run_batch(batch)
                self.busy_seconds += time.perf_counter() - started
        except BaseException:
            log.exception("the generation worker stopped unexpectedly")
            with self._lock:
                self._closing = True
                self._queue.drain()
                stranded = [j for j in self._jobs.values() if j.phase != "encoding"]
                for job in stranded:
                    self._jobs.pop(job.job_id, None)
                    self._queue.finish(job.job_id)
            for job in stranded:
                self._resolve(job, error=GenerationError(GENERIC_FAILURE))
            raise

    def _load(self) -> M:
        """Load the model once; a failure is retried on the next batch (files may be fixed)."""
        if not self._model_loaded:
            self._model = self._loader()
            self._model_loaded = True
        return cast(M, self._model)

    def _run_batch(self, batch: list[EngineJob]) -> None:
        for job in batch:
            job.total = self._cost_steps(job.request)
            self._emit(job, Progress(job.job_id, "running", 0, job.total, position=0))
            job.last_emit = self._clock()
        try:
            model = self._load()
        except Exception as exc:
            error = self._as_error(exc, [j.job_id for j in batch], LOAD_FAILURE)
            for job in batch:
                self._finish(job, error=error)
            return
        started = self._clock()
        for job in batch:
            job.started_at = started
        outcomes: Sequence[Any]
        try:
            outcomes = self._batch_runner(
                model,
                [job.request for job in batch],
                [self._step_callback(job) for job in batch],
                [job.cancel_event.is_set for job in batch],
            )
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"batch runner returned {len(outcomes)} results for {len(batch)}"
                )
        except Exception as exc:
            outcomes = [self._as_error(exc, [j.job_id for j in batch], GENERIC_FAILURE)] * len(
                batch
            )
        elapsed = self._clock() - started
        with self._lock:
            self._queue.record_duration(sum(job.step for job in batch), elapsed)
        for job, outcome in zip(batch, outcomes, strict=True):
            job.generate_s = elapsed
            self._settle(job, outcome)

    def _step_callback(self, job: EngineJob) -> StepCallback:
        def on_step(step: int, total: int, preview: Preview | None = None) -> None:
            now = self._clock()
            with self._lock:
                job.step, job.total = step, total
                self._queue.set_progress(job.job_id, step, total)
                if now - self._last_sweep >= self._interval:
                    self._notify_positions()  # catch up on places that were throttled
            due = job.last_emit is None or now - job.last_emit >= self._interval
            if job.emit is None or not (due or step >= total):
                return
            job.last_emit = now
            eta = None
            if step > 0 and job.started_at is not None:
                eta = (now - job.started_at) / step * max(0, total - step)
            png = None
            if preview is not None:
                try:
                    png = preview()
                except Exception:
                    log.exception("preview for job %s failed", job.job_id)
            self._emit(job, Progress(job.job_id, "running", step, total, 0, eta, png))

        return on_step

    def _settle(self, job: EngineJob, outcome: Any, *, on_delivery_thread: bool = False) -> None:
        if isinstance(outcome, concurrent.futures.Future):
            assert self._encoder is not None
            with self._lock:
                self._in_post += 1
            self._encoder.submit(self._deliver, job, outcome)
            return
        if job.cancel_event.is_set():
            self._finish(job, error=JobCancelled(CANCELLED))
        elif isinstance(outcome, BaseException):
            self._finish(job, error=self._as_error(outcome, [job.job_id], GENERIC_FAILURE))
        elif job.out_dir is None:
            self._finish(job, result=outcome)
        else:
            with self._lock:
                job.phase = "encoding"
            self._emit(job, Progress(job.job_id, "encoding", job.total, job.total, position=0))
            if on_delivery_thread:  # in turn: a later job's delivery must not overtake it
                self._write(job, job.out_dir, outcome)
                return
            assert self._encoder is not None
            self._encoder.submit(self._write, job, job.out_dir, outcome)

    def _deliver(self, job: EngineJob, pending: concurrent.futures.Future[Any]) -> None:
        """On the delivery thread: wait for a job's post-processing, then settle it in turn."""
        try:
            outcome = pending.result()
        except Exception as exc:  # a post-processing failure (or a dead worker) fails this job
            outcome = exc
        with self._lock:
            self._in_post -= 1
            self._wake.notify_all()
        self._settle(job, outcome, on_delivery_thread=True)

    def _post_has_room(self) -> bool:
        """Backpressure (lock held): the model may run ahead of post-processing by at most
        ``max_in_post`` jobs. More would not be faster, only later, and the fair queue, not
        the pool's first-come order, should decide what runs next (a radio clip must not wait
        behind a backlog the model made while the pool was busy)."""
        return self._max_in_post is None or self._in_post < self._max_in_post

    def _write(self, job: EngineJob, out_dir: Path, result: Any) -> None:
        """Start a result's files; a writer that returns a future (files written in a process
        pool) leaves the waiting to the finisher thread, so the next job's delivery and write
        start meanwhile, and jobs still settle in the order they reached it."""
        assert self._writer is not None
        assert self._finisher is not None
        started = self._clock()
        try:
            files = self._writer(result, out_dir, file_stem(job.job_id))
        except Exception as exc:
            self._finish(job, error=self._as_error(exc, [job.job_id], GENERIC_FAILURE))
            return
        self._finisher.submit(self._written, job, started, files)

    def _written(
        self,
        job: EngineJob,
        started: float,
        writing: ClipFiles | concurrent.futures.Future[ClipFiles],
    ) -> None:
        """On the finisher thread: a job's files are written (or failed); settle it."""
        if isinstance(writing, concurrent.futures.Future):
            try:
                files = writing.result()
            except Exception as exc:
                self._finish(job, error=self._as_error(exc, [job.job_id], GENERIC_FAILURE))
                return
        else:
            files = writing
        timings = dict(files.timings)
        timings.update(
            queued_s=(job.started_at or started) - job.submitted_at,
            generate_s=job.generate_s,
            write_s=self._clock() - started,
            batch_size=float(job.batch_size),
        )
        self._finish(job, result=replace(files, timings=timings))

    # --- helpers (callers hold no lock unless noted) ---------------------------------

    @staticmethod
    def _as_error(exc: BaseException, job_ids: list[str], generic: str) -> GenerationError:
        """Keep a ``GenerationError``'s message; hide anything else behind a human sentence."""
        if isinstance(exc, GenerationError):
            return exc
        log.error("generation failed for job(s) %s", ", ".join(job_ids), exc_info=exc)
        return GenerationError(generic)

    def _finish(
        self, job: EngineJob, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        with self._lock:
            self._queue.finish(job.job_id)
            self._jobs.pop(job.job_id, None)
        self._resolve(job, result=result, error=error)

    @staticmethod
    def _resolve(job: EngineJob, *, result: Any = None, error: BaseException | None = None) -> None:
        try:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
        except concurrent.futures.InvalidStateError:  # the awaiter gave up (task cancelled)
            pass

    @staticmethod
    def _emit(job: EngineJob, progress: Progress) -> None:
        if job.emit is not None:
            job.emit(progress)

    def _notify_positions(self) -> None:
        """Tell waiting jobs whose place changed (lock held).

        Throttled like steps; a throttled change is not lost, because the worker sweeps again
        at every pick and every ``progress_interval_s`` while steps run.
        """
        now = self._clock()
        self._last_sweep = now
        positions = self._queue.positions()
        etas: dict[str, float | None] | None = None
        for job_id, position in positions.items():
            job = self._jobs.get(job_id)
            if job is None or job.phase != "queued" or position == job.last_position:
                continue
            if job.last_emit is not None and now - job.last_emit < self._interval:
                continue
            if etas is None:
                etas = self._queue.etas()
            job.last_position, job.last_emit = position, now
            self._emit(job, Progress(job_id, "queued", position=position, eta_s=etas.get(job_id)))
