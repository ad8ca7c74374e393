"""The body of one fleet replica: today's engine, streamed, idempotent by job id.

Why idempotent: a caller whose stream broke (its replica died, the network blinked) sends the
same job again, and Serve may route it back to a replica that still runs it. Such a replica
attaches the new stream to the run it has (or answers with the result it kept) instead of
generating twice, so a job id makes at most one clip per replica, and the caller delivers
the first result it gets.

Cancellation comes from Serve: when the caller cancels its streaming response, the ``run``
generator here is cancelled, and once no caller listens to a run any more its engine job is
cancelled too (queued jobs leave the queue, running ones stop at the next step).

Nothing here imports Ray at module level, so the body is tested like any class; ``deploy``
wraps it in a Serve deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.engine import GENERIC_FAILURE, Engine
from generation.fleet.wire import Accepted, ClipBytes, Done, Event, Failed, JobOrder, Want
from generation.scheduling import OwnerLimit, QueueFull
from generation.types import ClipFiles, GenerationError, JobCancelled, Progress

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Engine[Any, Any]]
"""Builds the replica's engine; runs once, in the replica's process (it must pickle)."""

KEEP_FINISHED = 256
"""Finished runs a replica remembers, so a repeated job id gets the same answer."""


def read_clip(files: ClipFiles) -> ClipBytes:
    """The four files an engine wrote, as bytes for the caller."""
    return ClipBytes(
        mp3=files.mp3.read_bytes(),
        raw_png=files.raw_png.read_bytes(),
        picture_png=files.picture_png.read_bytes() if files.picture_png else None,
        params_json=files.params_json.read_bytes(),
        duration_s=files.duration_s,
        timings=dict(files.timings),
    )


def replica_name() -> str:
    """Serve's id for this replica (what its actor's name ends with), or the pid outside."""
    try:
        from ray import serve

        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:
        return f"pid-{os.getpid()}"


@dataclass(eq=False)
class _Run:
    """One job on this replica and the streams listening to it."""

    listeners: list[asyncio.Queue[Event]] = field(default_factory=list)
    final: Done | Failed | None = None
    abandoned: bool = False
    task: asyncio.Task[None] | None = None

    def publish(self, event: Event) -> None:
        for queue in self.listeners:
            queue.put_nowait(event)


class EngineReplica:
    """One engine and its runs; ``run`` streams a job's events, ending in ``Done``/``Failed``."""

    def __init__(self, engine_factory: EngineFactory, *, name: str | None = None) -> None:
        self.name = name or replica_name()
        self.engine = engine_factory()
        self.engine.start(preload=True)
        self._runs: dict[str, _Run] = {}
        self._finished: OrderedDict[str, Done | Failed] = OrderedDict()

    async def run(self, order: JobOrder) -> AsyncIterator[Event]:
        """Stream ``order``'s progress and its one outcome (attaching to a run already here)."""
        yield Accepted(self.name)
        kept = self._finished.get(order.job_id)
        if kept is not None:
            yield kept
            return
        run = self._runs.get(order.job_id)
        if run is not None and run.abandoned and run.task is not None:
            await asyncio.shield(run.task)  # it is stopping; then run the job afresh
            run = None
        if run is None:
            run = self._runs[order.job_id] = _Run()
            run.task = asyncio.create_task(self._execute(order, run))
        queue: asyncio.Queue[Event] = asyncio.Queue()
        run.listeners.append(queue)
        try:
            while True:
                event = await queue.get()
                # Behind a slow stream, send only the newest progress of each state: every
                # event crosses the cluster, and a stale step is worth nothing to the caller.
                while isinstance(event, Progress) and not queue.empty():
                    newer = queue.get_nowait()
                    if not (isinstance(newer, Progress) and newer.state == event.state):
                        yield event
                    event = newer
                yield event
                if isinstance(event, Done | Failed):
                    return
        finally:
            run.listeners.remove(queue)
            if not run.listeners and run.final is None:
                # The last caller went away (cancelled, or its stream broke): stop the job.
                run.abandoned = True
                self.engine.cancel(order.job_id)

    async def _execute(self, order: JobOrder, run: _Run) -> None:
        def on_progress(progress: Progress) -> None:
            run.publish(progress)

        final: Done | Failed
        try:
            value: Any
            if order.want is Want.FILES:
                with tempfile.TemporaryDirectory(prefix="riffbot-replica-") as tmp:
                    files = await self.engine.render(
                        order.request,
                        job_id=order.job_id,
                        owner=order.owner,
                        out_dir=Path(tmp),
                        priority=order.priority,
                        on_progress=on_progress,
                    )
                    value = await asyncio.to_thread(read_clip, files)
            else:
                value = await self.engine.generate(
                    order.request,
                    job_id=order.job_id,
                    owner=order.owner,
                    priority=order.priority,
                    on_progress=on_progress,
                )
            final = Done(value, self.name)
        except JobCancelled as error:
            final = Failed("cancelled", str(error), self.name)
        except (QueueFull, OwnerLimit) as error:
            final = Failed("refused", str(error), self.name)
        except GenerationError as error:
            final = Failed("error", str(error), self.name)
        except Exception:
            log.exception("job %s failed on replica %s", order.job_id, self.name)
            final = Failed("error", GENERIC_FAILURE, self.name)
        run.final = final
        if self._runs.get(order.job_id) is run:
            del self._runs[order.job_id]
        if not (isinstance(final, Failed) and final.kind == "cancelled"):
            self._finished[order.job_id] = final
            while len(self._finished) > KEEP_FINISHED:
                self._finished.popitem(last=False)
        run.publish(final)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job this replica runs or queues (the runner normally cancels its stream)."""
        return self.engine.cancel(job_id)

    async def running(self) -> list[str]:
        """Job ids this replica is working on (for tests and for ``/queue`` diagnostics)."""
        return sorted(self._runs)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.engine.shutdown(cancel_running=True)
