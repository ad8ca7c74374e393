"""The post-processing pool: worker processes beside the model's thread, at lower priority.

Phase reconstruction, pictures and MP3 encoding are CPU work that holds the GIL for long
stretches (numpy glue, matplotlib, PIL), so threads would slow the model's thread and,
worse, the voice player's 20 ms frames. Processes do not share the GIL. Workers start with
``spawn`` (a fork of a process that runs torch and threads can deadlock, and CUDA cannot be
used after fork), lazily on the first job, and lower their own scheduling priority with
``os.nice`` so the bot's process (event loop, voice player, model thread) always wins the
cores. A worker that dies breaks the executor for every later job; the pool then starts a
fresh one, so one crash fails only the jobs that were in it.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

WORKER_NICENESS = 10


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _lower_priority(niceness: int, threads: int) -> None:
    """Worker initializer: yield the cores to the bot, and do not oversubscribe them.

    The pool already has one worker per core, so every library's own thread pool must be one
    thread wide. Environment variables reach only the libraries loaded after this point;
    numpy's OpenBLAS is usually loaded already (spawn re-imports the parent's main module),
    and its idle threads spin: measured, they added 40 % of CPU time to every job and held
    two workers to 1.1 times one. threadpoolctl limits the pools already loaded.
    """
    from threadpoolctl import threadpool_limits

    os.nice(niceness)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)


class PostPool:
    """A process pool sized to the cores for the post stage; ``submit`` never blocks."""

    def __init__(self, workers: int | None = None, *, niceness: int = WORKER_NICENESS) -> None:
        self.workers = workers if workers is not None else available_cores()
        if self.workers < 1:
            raise ValueError("the post-processing pool needs at least one worker")
        self._niceness = niceness
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._closed = False

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the post-processing pool is closed")
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
                initargs=(self._niceness, 1),
            )
        return self._executor

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        with self._lock:
            try:
                return self._pool().submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                broken, self._executor = self._executor, None
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                return self._pool().submit(fn, *args, **kwargs)

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``submit`` and wait: for callers that are already off the model's thread."""
        return self.submit(fn, *args, **kwargs).result()

    def close(self, *, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=not wait)
